// 歌曲 Song page: the player, the tags with their evidence, audio features as a chart, the tag
// timeline as a heat strip, the lyrics with their languages, similar songs, the audience.
import { api, audioSource, audioUrlOf } from "../api.js";
import { barChart, heatStrip } from "../charts.js";
import { bi, errorBox, fmtNum, fmtTime, h, section } from "../dom.js";
import { keyName } from "../songs.js";
import { tagChip, taxonomy } from "../taxonomy.js";
import { audienceSection, similarSection, tagsSection } from "./song_parts.js";

const FEATURES = [
  ["energy", "能量", "Energy"], ["danceability", "律动", "Danceability"],
  ["valence", "愉悦", "Valence"], ["acousticness", "原声", "Acousticness"],
  ["instrumentalness", "器乐", "Instrumentalness"], ["speechiness", "念白", "Speechiness"],
];
export async function render(view, ctx) {
  const id = ctx.params[0];
  const [tax, doc] = await Promise.all([
    taxonomy(), api(`/v1/songs/${encodeURIComponent(id)}`, { signal: ctx.signal })]);
  document.title = `${doc.title} · songlens`;
  const audio = h("audio", { id: "song-audio", controls: true, preload: "metadata" });
  const seek = (t) => { audio.currentTime = t; audio.play().catch(() => {}); };
  view.append(h("div", { class: "page song", dataset: { songId: doc.song_id } },
    header(doc, audio), tagsSection(tax, doc), featuresSection(doc),
    instrumentsSection(doc, audio, seek), timelineSection(doc, audio, seek), lyricsSection(tax, doc),
    similarSection(tax, doc, ctx), audienceSection(tax, doc, ctx)));
  const src = audioUrlOf(doc);
  if (src) {
    audioSource(src).then((u) => { audio.src = u; })
      .catch((e) => audio.replaceWith(errorBox(e)));
  }
}

function header(doc, audio) {
  const lang = doc.language || {};
  const hasAudio = audioUrlOf(doc);
  return h("section", { class: "card song-head" },
    h("h1", {}, doc.title),
    h("p", { class: "artist" }, doc.artist, doc.album ? ` · ${doc.album}` : ""),
    h("p", { class: "facts" },
      bi("时长", "Duration"), ` ${fmtTime(doc.duration_s)} · `,
      doc.release_date ? [bi("发行", "Released"), ` ${doc.release_date} · `] : null,
      bi("语种", "Language"), ` ${lang.primary || "–"}`,
      lang.source ? h("span", { class: "muted" }, ` (${lang.source})`) : null),
    hasAudio ? audio : h("p", { class: "muted" }, bi("没有保存音频", "No audio kept for this song")),
    (doc.keywords || []).length
      ? h("p", { class: "keywords" }, bi("关键词", "Keywords"), " ",
          doc.keywords.map((k) => h("span", { class: "chip kw" }, k)))
      : null,
    (doc.warnings || []).length
      ? h("p", { class: "warning" }, doc.warnings.join("; ")) : null);
}

function featuresSection(doc) {
  const af = doc.audio_features || {};
  const rows = FEATURES.filter(([k]) => typeof af[k] === "number")
    .map(([key, zh, en]) => ({ key, zh, en, value: af[key], hint: af[`${key}_source`] }));
  const fact = (zh, en, value) => h("div", { class: "fact" }, h("dt", {}, bi(zh, en)),
                                    h("dd", {}, value));
  return section("声音特征", "Audio features",
    h("div", { class: "features" },
      rows.length ? barChart(rows, { title: "audio features" }) : null,
      h("dl", { class: "facts-grid" },
        fact("速度", "Tempo", `${fmtNum(af.tempo_bpm)} BPM`),
        fact("调", "Key", keyName(af) || "–"),
        fact("Camelot", "Camelot", af.camelot || "–"),
        fact("响度", "Loudness", `${fmtNum(af.loudness_db, 1)} dB`),
        af.dynamic_range_db !== undefined
          ? fact("动态范围", "Dynamic range", `${fmtNum(af.dynamic_range_db, 1)} dB`) : null,
        af.brightness !== undefined ? fact("明亮度", "Brightness", fmtNum(af.brightness, 2)) : null)));
}

// 乐器与人声: the instruments the audio has (Chinese + English names, score, why) and where
// each of them and the voice are heard, as one heat strip
function instrumentsSection(doc, audio, seek) {
  const insts = doc.instruments || [];
  const voice = doc.voice;
  const chips = insts.length
    ? h("ul", { class: "instruments" }, insts.map((i) =>
        h("li", { class: "chip instrument", dataset: { instrument: i.name },
                  title: ((i.evidence || [])[0] || {}).why || "" },
          `${i.zh} ${i.en} `, h("span", { class: "muted" }, fmtNum(i.score, 2)))))
    : h("p", { class: "muted" }, bi("没有听出可以命名的乐器", "No nameable instrument heard"));
  const voiceLine = voice
    ? h("p", { class: "voice" }, bi("人声", "Voice"), voice.present
      ? ` ✓ ${fmtNum(voice.probability, 2)}` : ` ✗ ${fmtNum(voice.probability, 2)}`)
    : null;
  const rows = insts.filter((i) => i.timeline && (i.timeline.values || []).length);
  let strip = null;
  if (rows.length || (voice && voice.timeline)) {
    const tl = { hop_s: (rows[0] || voice).timeline.hop_s,
                 tags: rows.map((i) => `${i.zh} ${i.en}`), values: rows.map((i) => i.timeline.values) };
    if (voice && voice.timeline) { tl.tags.push("人声 voice"); tl.values.push(voice.timeline.values); }
    strip = heatStrip(tl, { onSeek: seek });
    audio.addEventListener("timeupdate", () => strip.setTime(audio.currentTime));
  }
  return section("乐器与人声", "Instruments and voice", chips, voiceLine, strip);
}

function timelineSection(doc, audio, seek) {
  const tl = doc.timeline;
  if (!tl || !tl.tags || !tl.tags.length) {
    return section("标签时间线", "Tag timeline",
                   h("p", { class: "muted" }, bi("这首歌没有时间线数据", "No timeline stored for this song")));
  }
  const strip = heatStrip(tl, { onSeek: seek });
  audio.addEventListener("timeupdate", () => strip.setTime(audio.currentTime));
  return section("标签时间线", "Tag timeline",
    h("p", { class: "hint" }, bi("颜色越深，音频模型越确定这一段有这个标签；点一下跳到那里。",
                                 "Darker: the audio model hears the tag more strongly there; click to jump.")),
    strip);
}

function lyricsSection(tax, doc) {
  const lines = doc.lyrics_lines || [];
  if (!lines.length) return null;
  return section("歌词", "Lyrics",
    h("ol", { class: "lyrics" }, lines.map((l) =>
      h("li", {}, l.language ? tagChip(tax, "language", l.language)
                             : h("span", { class: "lang", title: "no letters" }, "–"),
        " ", h("span", { class: "line" }, l.text)))));
}
