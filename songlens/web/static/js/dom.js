// Building the page: elements are made with h(), text always goes in as text (song titles,
// lyrics and comments are user data and never become HTML).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** A Chinese label and its English one, side by side. */
export function bi(zh, en, attrs = {}) {
  return h("span", { class: "bi", ...attrs },
           h("span", { lang: "zh" }, zh), " ", h("span", { lang: "en" }, en));
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function fmtTime(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

export function fmtNum(v, digits = 0) {
  return v === null || v === undefined || !isFinite(v) ? "–" : Number(v).toFixed(digits);
}

export function fmtPct(v) {
  return v === null || v === undefined || !isFinite(v) ? "–" : `${Math.round(v * 100)}%`;
}

export function songLink(song) {
  return `#/song/${encodeURIComponent(song.song_id)}`;
}

/** An error box with the API's message (and its code, for a bug report). */
export function errorBox(err) {
  const code = err && err.code ? err.code : "error";
  return h("div", { class: "error", role: "alert" },
           h("strong", {}, "出错了 Error"), " ",
           h("span", { class: "msg" }, err && err.message ? err.message : String(err)),
           " ", h("code", {}, code));
}

export function loading(zh = "加载中", en = "Loading") {
  return h("p", { class: "loading" }, bi(`${zh}…`, `${en}…`));
}

/** Section with a bilingual heading. */
export function section(zh, en, ...children) {
  return h("section", { class: "card" }, h("h2", {}, bi(zh, en)), ...children);
}

export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** A notice in the page's corner for something that ended while the user was elsewhere. */
export function notice(node, ms = 10000) {
  let box = document.getElementById("notices");
  if (!box) {
    box = h("div", { id: "notices", "aria-live": "polite" });
    document.body.append(box);
  }
  const item = h("div", { class: "notice" }, node,
                 h("button", { type: "button", class: "close", "aria-label": "关闭 Close",
                               onclick: () => item.remove() }, "×"));
  box.append(item);
  setTimeout(() => item.remove(), ms);
}
