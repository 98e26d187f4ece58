// Parts of the song page: tags with their evidence, similar songs with their reasons, and the
// listeners who should hear this song (cold start: song → audience).
import { api } from "../api.js";
import { bi, clear, errorBox, fmtNum, fmtPct, h, loading, section } from "../dom.js";
import { explain, evidenceItem } from "../evidence.js";
import { songRow, summaries } from "../songs.js";
import { tagChip } from "../taxonomy.js";

export function tagsSection(tax, doc) {
  const body = h("div", { class: "tag-dims" });
  for (const d of tax.dimensions) {
    const tags = (doc.tags || {})[d.key] || [];
    const list = h("ul", { class: "tag-list" });
    tags.forEach((t, i) => {
      const ev = t.evidence || [];
      list.append(h("li", { class: "tag-item", dataset: { dim: d.key, tag: t.tag } },
        h("details", { open: i === 0 },
          h("summary", {}, tagChip(tax, d.key, t.tag, { en: t.en }),
            h("meter", { min: 0, max: 1, value: t.score, title: `${fmtPct(t.score)}` }),
            h("span", { class: "score-num" }, fmtPct(t.score)),
            h("span", { class: "why-short" }, ev.length ? explain(ev[0], t.tag).join(" · ") : "")),
          h("ul", { class: "evidence-list" }, ev.map((e) => evidenceItem(e, t.tag))))));
    });
    body.append(h("div", { class: `tag-dim dim-${d.key}` }, h("h3", {}, bi(d.zh, d.en)),
                  tags.length ? list : h("p", { class: "muted" }, bi("无", "none"))));
  }
  return section("标签与依据", "Tags and why", h("p", { class: "hint" },
    bi("每个标签的分数和依据：哪段声音、哪句歌词、哪条评论让 songlens 这样判断。",
       "Each tag's score and the evidence behind it: what in the sound, the lyrics or the comments made songlens say so.")),
    body);
}

function similarReasons(tax, r) {
  const parts = [h("span", { class: "reason" }, `${r.matched} ${fmtPct(r.similarity)}`)];
  for (const [dim, tags] of Object.entries(r.shared_tags || {})) {
    for (const t of tags) parts.push(tagChip(tax, dim, t));
  }
  if (r.tempo_diff_bpm !== undefined && r.tempo_diff_bpm !== null) {
    parts.push(h("span", { class: "reason" }, `Δ ${fmtNum(r.tempo_diff_bpm)} BPM`));
  }
  if (r.key_compatible) parts.push(h("span", { class: "reason ok" }, bi("调性相合", "keys mix")));
  return parts;
}

export function similarSection(tax, doc, ctx) {
  const out = h("div", {});
  const space = h("select", { "aria-label": "space" },
    [["fused", "综合 fused"], ["audio", "声音 audio"], ["text", "文字 text"], ["tags", "标签 tags"],
     ["hybrid", "歌词 hybrid"]].map(([v, l]) => h("option", { value: v }, l)));
  const load = async () => {
    clear(out).append(loading());
    try {
      const r = await api(`/v1/songs/${encodeURIComponent(doc.song_id)}/similar`,
                          { query: { k: 8, space: space.value }, signal: ctx.signal });
      const songs = await summaries(r.items.map((x) => x.song_id), { signal: ctx.signal });
      const why = new Map(r.items.map((x) => [x.song_id, x.reasons]));
      clear(out).append(songs.length
        ? h("ol", { class: "song-list similar" }, songs.map((s) => songRow(tax, s, {
          list: songs, extra: similarReasons(tax, why.get(s.song_id)) })))
        : h("p", { class: "muted" }, bi("还没有相似的歌", "No similar songs yet")));
    } catch (e) {
      if (e.name !== "AbortError") clear(out).append(errorBox(e));
    }
  };
  space.addEventListener("change", load);
  load();
  return section("相似的歌", "Similar songs", h("label", { class: "inline" }, bi("比较", "Compare by"),
                                                 " ", space), out);
}

export function audienceSection(tax, doc, ctx) {
  const out = h("div", {}, loading());
  api("/v1/recall", { json: { mode: "song_audience", song_id: doc.song_id, k: 10 },
                      signal: ctx.signal })
    .then((r) => clear(out).append(r.items.length
      ? h("ol", { class: "audience" }, r.items.map((u) => h("li", {},
        h("a", { href: `#/listener/${encodeURIComponent(u.user_id)}` }, u.user_id), " ",
        h("span", { class: "reason" }, u.reason), " ",
        Object.entries(u.matched_tags || {}).map(([dim, tags]) => tags.map((t) => tagChip(tax, dim, t))))))
      : h("p", { class: "muted" }, bi("还没有听众画像可匹配：去听众页添加一个。",
                                      "No listener profiles to match yet: add one on the Listener page."))))
    .catch((e) => { if (e.name !== "AbortError") clear(out).append(errorBox(e)); });
  return section("谁会喜欢这首新歌", "Who should hear this song", out);
}
