// Three small charts drawn as inline SVG (no chart library: each is a few dozen lines, and the
// page loads nothing it does not need): horizontal bars for audio features, a heat strip for the
// per-patch tag timeline, and a line chart for a playlist's tempo/energy curve.

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Bars for values in 0..1: rows [{zh, en, value, hint}]. */
export function barChart(rows, { title = "" } = {}) {
  const labelW = 190, barW = 220, rowH = 26, w = labelW + barW + 48;
  const svg = s("svg", { viewBox: `0 0 ${w} ${rows.length * rowH + 4}`, width: w, class: "chart bars",
                         role: "img", "aria-label": title });
  rows.forEach((r, i) => {
    const y = i * rowH + 4, v = Math.max(0, Math.min(1, Number(r.value) || 0));
    const g = s("g", { class: "bar-row", "data-key": r.key || "" },
                s("title", {}, `${r.zh} ${r.en}: ${Math.round(v * 100)}%${r.hint ? ` (${r.hint})` : ""}`));
    g.append(s("text", { x: 0, y: y + 15, class: "lbl" }, s("tspan", { class: "zh" }, r.zh),
               s("tspan", { class: "en", dx: 6 }, r.en)));
    g.append(s("rect", { x: labelW, y: y + 3, width: barW, height: 16, rx: 3, class: "track" }));
    g.append(s("rect", { x: labelW, y: y + 3, width: Math.max(1, v * barW), height: 16, rx: 3,
                         class: "fill" }));
    g.append(s("text", { x: labelW + barW + 6, y: y + 15, class: "val" }, `${Math.round(v * 100)}`));
    svg.append(g);
  });
  return svg;
}

/** Heat strip: one row per tag, one cell per patch of `hop_s` seconds. Clicking seeks. */
export function heatStrip(timeline, { onSeek } = {}) {
  const tags = timeline.tags || [], values = timeline.values || [];
  const cols = Math.max(1, ...values.map((r) => r.length));
  const labelW = 110, rowH = 18, cellW = Math.max(3, 640 / cols);
  const w = labelW + cols * cellW, hgt = tags.length * rowH + 18;
  const max = Math.max(1e-6, ...values.flat().filter((v) => isFinite(v)));
  // drawn at its natural size (shrunk to fit a phone, never blown up)
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, width: w, class: "chart heat", role: "img",
                         "aria-label": "tag timeline" });
  tags.forEach((tag, i) => {
    const y = i * rowH;
    svg.append(s("text", { x: 0, y: y + 13, class: "lbl" }, tag));
    (values[i] || []).forEach((v, j) => {
      const t0 = j * timeline.hop_s;
      svg.append(s("rect", { x: labelW + j * cellW, y: y + 1, width: cellW - 0.5, height: rowH - 2,
                             class: "cell", "fill-opacity": (0.08 + 0.92 * (v / max)).toFixed(3),
                             "data-t": t0.toFixed(2) },
                   s("title", {}, `${tag} @ ${t0.toFixed(1)} s: ${Number(v).toFixed(3)}`)));
    });
  });
  const hopLabel = (j) => `${Math.round(j * timeline.hop_s)}s`;
  for (const j of [0, Math.floor(cols / 2), cols - 1]) {
    svg.append(s("text", { x: labelW + j * cellW, y: hgt - 3, class: "axis" }, hopLabel(j)));
  }
  const head = s("line", { x1: labelW, x2: labelW, y1: 0, y2: tags.length * rowH, class: "playhead" });
  svg.append(head);
  if (onSeek) {
    svg.addEventListener("click", (ev) => {
      const t = ev.target.getAttribute && ev.target.getAttribute("data-t");
      if (t !== null && t !== undefined) onSeek(Number(t));
    });
  }
  svg.setTime = (t) => {
    const x = labelW + (t / timeline.hop_s) * cellW;
    head.setAttribute("x1", x);
    head.setAttribute("x2", x);
  };
  return svg;
}

/** Lines over playlist positions: series [{key, zh, en, values, min, max}]. */
export function curveChart(series, { labels = [] } = {}) {
  const n = Math.max(1, ...series.map((x) => x.values.length));
  const w = 520, hgt = 180, pad = 30, innerW = w - 2 * pad, innerH = hgt - 2 * pad;
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, class: "chart curve", role: "img",
                         "aria-label": series.map((x) => x.en).join(" / ") });
  svg.append(s("rect", { x: pad, y: pad, width: innerW, height: innerH, class: "frame" }));
  const xOf = (i) => pad + (n === 1 ? innerW / 2 : (i * innerW) / (n - 1));
  series.forEach((ser, k) => {
    const lo = ser.min ?? Math.min(...ser.values), hi = ser.max ?? Math.max(...ser.values);
    const yOf = (v) => pad + innerH - ((v - lo) / Math.max(1e-9, hi - lo)) * innerH;
    const pts = ser.values.map((v, i) => (v === null || !isFinite(v) ? null : [xOf(i), yOf(v)]))
      .filter(Boolean);
    svg.append(s("polyline", { points: pts.map((p) => p.map((c) => c.toFixed(1)).join(",")).join(" "),
                               class: `line s${k}`, "data-key": ser.key }));
    for (const [x, y] of pts) svg.append(s("circle", { cx: x, cy: y, r: 3, class: `dot s${k}` }));
    svg.append(s("text", { x: k ? w - pad : pad, y: pad - 10, class: `legend s${k}`,
                           "text-anchor": k ? "end" : "start" },
                 `${ser.zh} ${ser.en} (${fmt(lo)}–${fmt(hi)})`));
  });
  labels.forEach((l, i) => svg.append(s("text", { x: xOf(i), y: hgt - 10, class: "axis",
                                                  "text-anchor": "middle" }, l)));
  return svg;
}

function fmt(v) {
  return Math.abs(v) >= 10 ? Math.round(v) : Number(v).toFixed(1);
}
