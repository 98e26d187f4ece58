// Songs as lists show them: a summary (title, artist, top tags, tempo, key, energy) from the
// browse endpoint, or made from the full song document for results of a search.
import { api } from "./api.js";
import { fmtNum, h, songLink } from "./dom.js";
import { playButton } from "./player.js";
import { tagChip } from "./taxonomy.js";

const cache = new Map();

export function remember(summaries) {
  for (const s of summaries) cache.set(s.song_id, s);
}

/** The browse endpoint's SongSummary shape, from a song document. */
export function summaryOf(doc) {
  const af = doc.audio_features || {};
  const top = {};
  for (const [dim, tags] of Object.entries(doc.tags || {})) {
    top[dim] = tags.slice(0, 3).map((t) => ({ tag: t.tag, score: t.score, en: t.en }));
  }
  return {
    song_id: doc.song_id, title: doc.title, artist: doc.artist, top_tags: top,
    tempo_bpm: af.tempo_bpm ?? null, key: af.key ?? null, mode: af.mode ?? null,
    camelot: af.camelot ?? null,
    energy: af.energy ?? null, duration_s: doc.duration_s,
    audio_url: "audio_url" in doc ? doc.audio_url : `/v1/songs/${encodeURIComponent(doc.song_id)}/audio`,
  };
}

/** "A minor" from {key: "A", mode: "minor"} (a song's audio features or a summary). */
export function keyName(af) {
  if (!af || !af.key) return null;
  return af.mode && !String(af.key).includes(" ") ? `${af.key} ${af.mode}` : af.key;
}

/** Summaries for these ids (cached; the rest fetched in parallel). Unknown ids are dropped. */
export async function summaries(ids, { signal } = {}) {
  const missing = ids.filter((id) => !cache.has(id));
  await Promise.all(missing.map((id) =>
    api(`/v1/songs/${encodeURIComponent(id)}`, { signal })
      .then((doc) => cache.set(id, summaryOf(doc)))
      .catch((e) => { if (e.name === "AbortError") throw e; })));
  return ids.map((id) => cache.get(id)).filter(Boolean);
}

/** Top tag of each dimension as chips (at most `n`). */
export function topChips(tax, song, n = 5) {
  const chips = [];
  for (const dim of ["language", "style", "scene", "emotion", "theme"]) {
    const t = (song.top_tags || {})[dim];
    if (t && t.length) chips.push(tagChip(tax, dim, t[0].tag, { en: t[0].en }));
  }
  return chips.slice(0, n);
}

/** A result row: ▶, title and artist, top tags, tempo, key; `extra` after them (a reason). */
export function songRow(tax, song, { list, extra } = {}) {
  return h("li", { class: "song-row", dataset: { songId: song.song_id } },
           playButton(song, list),
           h("div", { class: "who" },
             h("a", { href: songLink(song), class: "title" }, song.title || song.song_id),
             h("span", { class: "artist" }, song.artist || "")),
           h("div", { class: "tags" }, topChips(tax, song)),
           h("div", { class: "num tempo", title: "速度 Tempo" },
             song.tempo_bpm ? `${fmtNum(song.tempo_bpm)} BPM` : "–"),
           h("div", { class: "num key", title: "调性 Key" },
             [keyName(song), song.camelot ? `(${song.camelot})` : null].filter(Boolean).join(" ") || "–"),
           extra ? h("div", { class: "extra" }, extra) : null);
}
