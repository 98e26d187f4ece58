// 上传 Ingest: a song with title, artist, lyrics and comments → POST /v1/ingest-jobs, then the
// job's progress through its stages (polled; the page stays usable) → the new song's page.
import { api } from "../api.js";
import { bi, clear, errorBox, h, notice } from "../dom.js";

const STAGES = [["decode", "解码", "Decode"], ["audio_model", "音频模型", "Audio model"],
                ["features", "声音特征", "Features"], ["text", "歌词与评论", "Text"],
                ["store", "入库", "Store"]];
const LANGUAGES = [["", "自动 auto (from the lyrics)"], ["华语", "华语 Mandarin"], ["粤语", "粤语 Cantonese"],
                   ["欧美", "欧美 Western"], ["日语", "日语 Japanese"], ["韩语", "韩语 Korean"],
                   ["纯音乐", "纯音乐 Instrumental"]];
const POLL_MS = 400;

function field(zh, en, control) {
  return h("label", { class: "field" }, bi(zh, en), control);
}

/** Comments, one per line; a trailing "| 120" gives its likes. */
export function parseComments(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
    const m = line.match(/^(.*?)\s*[|｜]\s*(\d+)$/);
    return m ? { text: m[1], likes: Number(m[2]) } : { text: line, likes: 0 };
  });
}

export async function render(view, ctx) {
  const f = {
    audio: h("input", { type: "file", name: "audio", id: "ing-audio", accept: "audio/*,.mp3,.ogg,.flac,.wav,.m4a,.opus,.webm", required: true }),
    title: h("input", { type: "text", name: "title", id: "ing-title", required: true, maxlength: 500 }),
    artist: h("input", { type: "text", name: "artist", id: "ing-artist", maxlength: 500 }),
    album: h("input", { type: "text", name: "album", id: "ing-album", maxlength: 500 }),
    song_id: h("input", { type: "text", name: "song_id", id: "ing-id", maxlength: 128,
                          placeholder: "自动 auto" }),
    release_date: h("input", { type: "text", name: "release_date", id: "ing-release",
                               maxlength: 10, placeholder: "YYYY-MM-DD · YYYY-MM · YYYY" }),
    language: h("select", { name: "language", id: "ing-language" },
                LANGUAGES.map(([v, l]) => h("option", { value: v }, l))),
    lyrics: h("textarea", { name: "lyrics", id: "ing-lyrics", rows: 8 }),
    comments: h("textarea", { name: "comments", id: "ing-comments", rows: 5,
                              placeholder: "考研的时候天天听 | 120\nperfect for a night drive" }),
  };
  f.audio.addEventListener("change", () => {
    const file = f.audio.files[0];
    if (file && !f.title.value) f.title.value = file.name.replace(/\.[^.]+$/, "");
  });
  const progress = h("div", { id: "ing-progress", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary", id: "ing-submit" }, bi("上传并分析", "Upload and analyse"));
  const form = h("form", { class: "card", id: "ing-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const meta = { title: f.title.value.trim() };
    for (const k of ["artist", "album", "song_id", "release_date", "language", "lyrics"]) {
      const v = f[k].value.trim();
      if (v) meta[k] = v;
    }
    const comments = parseComments(f.comments.value);
    if (comments.length) meta.comments = comments;
    const body = new FormData();
    body.append("audio", f.audio.files[0]);
    body.append("metadata", JSON.stringify(meta));
    submit.disabled = true;
    try {
      await runJob(body, progress, ctx.signal, meta.title);
    } finally {
      submit.disabled = false;
    }
  } },
    h("h1", {}, bi("上传一首歌", "Ingest a song")),
    h("p", { class: "hint" }, bi("songlens 听音频、读歌词和评论，给出标签、依据和声音特征。",
                                 "songlens listens to the audio, reads the lyrics and comments, and gives tags with evidence and audio features.")),
    h("div", { class: "form-grid" },
      field("音频文件", "Audio file (mp3, ogg, flac, wav, m4a…)", f.audio),
      field("歌名", "Title", f.title), field("艺人", "Artist", f.artist),
      field("专辑", "Album", f.album), field("语种", "Language", f.language),
      field("发行日期（可选）", "Release date (optional)", f.release_date),
      field("歌曲 ID（可选）", "Song id (optional)", f.song_id)),
    h("div", { class: "form-grid wide" },
      field("歌词", "Lyrics", f.lyrics),
      field("听众评论（每行一条，| 后是点赞数）", "Comments (one a line; | likes)", f.comments)),
    h("div", { class: "actions" }, submit));
  view.append(h("div", { class: "page ingest" }, form, progress));
}

function stageList(job) {
  const done = new Set(job.stages_done || []);
  return h("ol", { class: "stages" }, STAGES.map(([key, zh, en]) =>
    h("li", { class: `stage ${done.has(key) ? "done" : job.stage === key ? "running" : ""}`,
              dataset: { stage: key } }, bi(zh, en))));
}

/** Post the job and follow it until done (then open the song) or failed. The user may browse
 * on meanwhile: the job goes on, and its end is announced in a notice instead. */
async function runJob(body, progress, signal, title) {
  clear(progress).append(h("div", { class: "card" }, h("p", {}, bi("上传中…", "Uploading…"))));
  let job;
  try {
    job = await api("/v1/ingest-jobs", { form: body });
  } catch (e) {
    if (signal.aborted) notice(errorBox(e)); else clear(progress).append(errorBox(e));
    return;
  }
  const url = job.status_url || `/v1/ingest-jobs/${encodeURIComponent(job.job_id)}`;
  for (;;) {
    let state;
    try {
      state = await api(url);
    } catch (e) {
      if (signal.aborted) notice(errorBox(e)); else clear(progress).append(errorBox(e));
      return;
    }
    clear(progress).append(h("div", { class: "card", dataset: { state: state.state } },
      h("h2", {}, bi("分析进度", "Progress")), stageList(state),
      state.state === "failed" ? errorBox(state.error || { message: "failed" }) : null));
    const link = `#/song/${encodeURIComponent(state.song_id)}`;
    if (state.state === "done") {
      if (!signal.aborted) location.hash = link;
      else notice(h("span", {}, bi("分析完成", "Ingested"), " ", h("a", { href: link }, title)));
      return;
    }
    if (state.state === "failed") {
      if (signal.aborted) notice(errorBox(state.error || { message: "failed" }));
      return;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
