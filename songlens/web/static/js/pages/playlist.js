// 歌单 Playlist builder: required and preferred tags, a prompt, seed songs, attribute sliders,
// diversity, artist spacing and flow → POST /v1/playlists; shows what the request was read as
// and what was relaxed, plays it in order, draws its tempo/energy curve, exports M3U.
import { api, audioUrlOf } from "../api.js";
import { curveChart } from "../charts.js";
import { bi, clear, errorBox, fmtTime, h, loading, section } from "../dom.js";
import { playQueue } from "../player.js";
import { remember, songRow } from "../songs.js";
import { tagChip, tagPicker, taxonomy } from "../taxonomy.js";

// attribute: [zh, en, min, max, step]
const ATTRS = {
  energy: ["能量", "Energy", 0, 1, 0.05], danceability: ["律动", "Danceability", 0, 1, 0.05],
  valence: ["愉悦", "Valence", 0, 1, 0.05], acousticness: ["原声", "Acousticness", 0, 1, 0.05],
  instrumentalness: ["器乐", "Instrumentalness", 0, 1, 0.05],
  speechiness: ["念白", "Speechiness", 0, 1, 0.05], tempo: ["速度", "Tempo (BPM)", 40, 220, 1],
  loudness: ["响度", "Loudness (dB)", -40, 0, 1],
};
const MODES = [["", "不限 any"], ["min", "至少 min"], ["max", "至多 max"], ["target", "接近 target"]];
const FLOWS = [["none", "不排 none"], ["arc", "起伏 arc"], ["rising", "渐强 rising"],
               ["falling", "渐弱 falling"], ["harmonic", "和声衔接 harmonic"]];

function slider(name, zh, en, min, max, step, value) {
  const input = h("input", { type: "range", name, min, max, step, value });
  const out = h("output", {}, String(value));
  input.addEventListener("input", () => { out.textContent = input.value; });
  return { input, row: h("label", { class: "slider" }, bi(zh, en), input, out) };
}

function attributeRows() {
  const rows = [];
  const el = h("div", { class: "attrs" });
  for (const [key, [zh, en, min, max, step]] of Object.entries(ATTRS)) {
    const mode = h("select", { name: `mode-${key}`, "aria-label": `${en} mode` },
                   MODES.map(([v, l]) => h("option", { value: v }, l)));
    const s = slider(`attr-${key}`, zh, en, min, max, step, (min + max) / 2);
    const row = h("div", { class: "attr off" }, s.row, mode);
    mode.addEventListener("change", () => row.classList.toggle("off", !mode.value));
    s.row.classList.add("off");
    mode.addEventListener("change", () => s.row.classList.toggle("off", !mode.value));
    rows.push({ key, mode, input: s.input });
    el.append(row);
  }
  return { el, value: () => Object.fromEntries(rows.filter((r) => r.mode.value)
    .map((r) => [`${r.mode.value}_${r.key}`, Number(r.input.value)])) };
}

export async function render(view, ctx) {
  const tax = await taxonomy();
  const required = tagPicker(tax, { name: "req" });
  const preferred = tagPicker(tax, { name: "pref" });
  const attrs = attributeRows();
  const text = h("input", { type: "text", name: "text", id: "pl-text", maxlength: 500,
                            placeholder: "适合深夜学习的安静钢琴 · music for a morning run" });
  const seeds = h("input", { type: "text", name: "seeds", id: "pl-seeds", list: "pl-songs",
                             placeholder: "song id, …" });
  const songList = h("datalist", { id: "pl-songs" });
  const diversity = slider("diversity", "多样性", "Diversity", 0, 1, 0.05, 0.3);
  const spacing = h("input", { type: "number", name: "artist_spacing", min: 0, max: 50, value: 3 });
  const length = h("input", { type: "number", name: "length", min: 1, max: 200, value: 20 });
  const flow = h("select", { name: "flow" }, FLOWS.map(([v, l]) => h("option", { value: v }, l)));
  const result = h("div", { id: "pl-result" });

  api("/v1/songs", { query: { limit: 200 }, signal: ctx.signal }).then((out) => {
    remember(out.songs);
    for (const s of out.songs) songList.append(h("option", { value: s.song_id }, `${s.title} · ${s.artist}`));
  }).catch(() => {});

  const build = async (ev) => {
    ev.preventDefault();
    const body = {
      tags: required.value(), preferred: preferred.value(), length: Number(length.value) || 20,
      diversity: Number(diversity.input.value), artist_spacing: Number(spacing.value) || 0,
      flow: flow.value, ...attrs.value(),
    };
    if (text.value.trim()) body.text = text.value.trim();
    const seedIds = seeds.value.split(",").map((x) => x.trim()).filter(Boolean);
    if (seedIds.length) body.seed_songs = seedIds;
    clear(result).append(loading("生成中", "Building"));
    try {
      const out = await api("/v1/playlists", { json: body, signal: ctx.signal });
      clear(result).append(showPlaylist(tax, out, body));
    } catch (e) {
      if (e.name !== "AbortError") clear(result).append(errorBox(e));
    }
  };

  view.append(h("div", { class: "page playlist" },
    h("form", { class: "card", id: "pl-form", onsubmit: build },
      h("h1", {}, bi("生成歌单", "Build a playlist")),
      h("div", { class: "form-grid" },
        h("label", { class: "field" }, bi("一句话描述", "Describe it"), text),
        h("label", { class: "field" }, bi("种子歌曲（逗号分隔）", "Seed songs (comma-separated ids)"),
          seeds, songList),
        h("div", { class: "field" }, bi("必须有的标签", "Required tags"), required.el),
        h("div", { class: "field" }, bi("最好有的标签", "Preferred tags"), preferred.el)),
      h("h2", {}, bi("声音属性", "Attributes")), attrs.el,
      h("div", { class: "form-grid" }, diversity.row,
        h("label", { class: "field" }, bi("同一艺人至少间隔", "Artist spacing"), spacing),
        h("label", { class: "field" }, bi("排序走向", "Flow"), flow),
        h("label", { class: "field" }, bi("首数", "Length"), length)),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary", id: "pl-build" }, bi("生成", "Build")))),
    result));
}

function showPlaylist(tax, out, body) {
  const songs = out.items.map((it) => ({ ...it, top_tags: {},
    audio_url: `/v1/songs/${encodeURIComponent(it.song_id)}/audio` }));
  const interpreted = out.interpreted || {};
  const textTags = interpreted.text_tags || {};
  const read = Object.entries(textTags).flatMap(([dim, tags]) =>
    Object.entries(tags).map(([tag, w]) => tagChip(tax, dim, tag, { score: w })));
  const rows = out.items.map((it, i) => {
    const row = songRow(tax, songs[i], { list: songs, extra: reasonsOf(tax, it.reasons) });
    row.querySelector(".tags").replaceChildren(h("span", { class: "pos" }, `#${it.position}`),
                                               h("span", { class: "num" }, ` ${fmtTime(it.duration_s)}`));
    return row;
  });
  const m3u = h("button", { type: "button", id: "pl-m3u", onclick: () => exportM3u(songs) },
                bi("导出 M3U", "Export M3U"));
  const play = h("button", { type: "button", class: "primary", id: "pl-play",
                             onclick: () => playQueue(songs, 0) }, "▶ ", bi("按顺序播放", "Play in order"));
  return h("div", {},
    section("理解为", "Read as",
      body.text ? h("p", {}, bi("描述", "Prompt"), ` “${body.text}” → `,
                    read.length ? read : h("span", { class: "muted" }, bi("没读出标签", "no tags"))) : null,
      interpreted.text_audio ? h("p", { class: "muted" }, `text→audio: ${interpreted.text_audio}`) : null,
      h("p", { class: "relaxed" }, bi("放宽了", "Relaxed"), ": ",
        out.relaxed.length ? out.relaxed.join(" → ") : bi("无", "nothing"))),
    section(`歌单（${out.items.length} 首）`, `Playlist (${out.items.length})`,
      h("div", { class: "actions" }, play, m3u),
      out.items.length > 1 ? curveChart([
        { key: "tempo", zh: "速度", en: "tempo BPM", values: out.items.map((x) => x.tempo_bpm) },
        { key: "energy", zh: "能量", en: "energy", values: out.items.map((x) => x.energy), min: 0, max: 1 },
      ], { labels: out.items.map((x) => String(x.position)) }) : null,
      h("ol", { class: "song-list playlist-items" }, rows)));
}

function reasonsOf(tax, r) {
  const parts = [];
  for (const [dim, tags] of Object.entries(r.matched_tags || {})) {
    for (const t of tags) parts.push(tagChip(tax, dim, t));
  }
  for (const [k, v] of Object.entries(r.attributes || {})) parts.push(h("span", { class: "reason" }, `${k} ${v}`));
  if (r.seed_similarity !== undefined) parts.push(h("span", { class: "reason" }, `seed ${r.seed_similarity}`));
  return parts;
}

function exportM3u(songs) {
  const lines = ["#EXTM3U", "#PLAYLIST:songlens"];
  for (const s of songs) {
    const name = `${s.artist || ""} - ${s.title || s.song_id}`.replace(/[\r\n]+/g, " ");
    lines.push(`#EXTINF:${Math.round(s.duration_s || -1)},${name}`);
    lines.push(new URL(audioUrlOf(s), location.origin).href);
  }
  const url = URL.createObjectURL(new Blob([`${lines.join("\n")}\n`], { type: "audio/x-mpegurl" }));
  const a = h("a", { href: url, download: "songlens-playlist.m3u" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
