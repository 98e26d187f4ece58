// Why a song carries a tag, in words a non-engineer reads: each evidence item of the song
// document ({source, cue, p, model, percentile, count, example, field, ...}) as one Chinese and
// one English sentence. The API words each item in English (`why`); that sentence is shown.
import { bi, h } from "./dom.js";

const FIELD = { title: ["标题", "title"], album: ["专辑", "album"], artist: ["艺人", "artist"],
                language: ["目录语种", "catalogue language"] };

function pct(v) { return `${Math.round(v * 100)}%`; }

/** [zh, en] sentences for one evidence item; the English one is the API's (`why`) when given. */
export function explain(ev, tag = "") {
  const [zh, en] = ourWords(ev, tag);
  return [zh, typeof ev.why === "string" && ev.why ? ev.why : en];
}

function ourWords(ev, tag) {
  const cue = ev.cue ?? "";
  const strength = typeof ev.percentile === "number"
    ? [`，比 ${pct(ev.percentile)} 的歌更明显`, `, stronger than in ${pct(ev.percentile)} of songs`]
    : ["", ""];
  switch (ev.source) {
    case "audio":
      if (cue === "no voice") {  // the voice detector: no voice heard in the audio
        const share = typeof ev.vocal_share === "number" ? `（只有 ${pct(ev.vocal_share)} 的片段像人声）` : "";
        return [`音频里听不到人声，是纯音乐${share}`,
                `The audio has no voice: it sounds instrumental`];
      }
      return [`音频模型（${ev.model || "musicnn"}）听出「${cue}」${strength[0]}`,
              `The audio model (${ev.model || "musicnn"}) hears "${cue}"${strength[1]}`];
    case "instruments":
      return [`音频里听得出${ev.zh || cue}（${ev.en || cue}）`,
              `The audio has ${ev.en || cue} in it`];
    case "clap":
      return [`CLAP 模型觉得它像「${cue}」`, `The CLAP model finds it sounds like "${cue}"`];
    case "lyrics":
      if (cue === "script") {
        return [`歌词的文字有 ${pct(ev.p)} 属于这种语言${ev.primary ? "（主要语言）" : ""}`,
                `${pct(ev.p)} of the lyrics' text reads as this language${ev.primary ? " (primary)" : ""}`];
      }
      if (cue === "valence") {
        return [`歌词整体情绪${ev.valence >= 0 ? "积极" : "消极"}（${ev.valence}）`,
                `The lyrics read ${ev.valence >= 0 ? "positive" : "negative"} overall (${ev.valence})`];
      }
      return [`歌词里出现「${cue}」${ev.count > 1 ? ` ${ev.count} 次` : ""}`,
              `The lyrics say "${cue}"${ev.count > 1 ? ` ${ev.count} times` : ""}`];
    case "comments":
      if (cue === "valence") {
        return [`听众评论整体${ev.valence >= 0 ? "积极" : "消极"}（${ev.valence}）`,
                `Listener comments read ${ev.valence >= 0 ? "positive" : "negative"} (${ev.valence})`];
      }
      return [`${ev.count || 1} 条听众评论提到「${cue}」`,
              `${ev.count || 1} listener comment${ev.count > 1 ? "s" : ""} mention "${cue}"`];
    case "metadata": {
      const [zh, en] = FIELD[ev.field] || ["资料", ev.field || "metadata"];
      return cue === "catalogue"
        ? ["目录资料写明了语种", "The catalogue gives this language"]
        : [`${zh}里有「${cue}」`, `The ${en} says "${cue}"`];
    }
    default:
      return [`${ev.source || "?"}：${cue}`, `${ev.source || "?"}: ${cue}`];
  }
}

const SOURCE = { audio: ["声音", "sound"], clap: ["声音", "sound"], lyrics: ["歌词", "lyrics"],
                 comments: ["评论", "comments"], metadata: ["资料", "metadata"] };

/** One evidence item as a list entry: source badge, sentence, the comment quoted, strength. */
export function evidenceItem(ev, tag = "") {
  const [zh, en] = explain(ev, tag);
  const [szh, sen] = SOURCE[ev.source] || [ev.source, ev.source];
  return h("li", { class: `evidence src-${ev.source}` },
           h("span", { class: "badge" }, bi(szh, sen)), " ",
           h("span", { class: "why" }, h("span", { lang: "zh" }, zh), h("br"),
             h("span", { lang: "en" }, en)),
           ev.example && !en.includes(ev.example) ? h("q", { class: "example" }, ev.example) : null,
           typeof ev.p === "number" ? h("span", { class: "weight", title: "strength of this cue" },
                                        `强度 strength ${pct(ev.p)}`) : null);
}
