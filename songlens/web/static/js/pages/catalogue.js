// 歌曲库 Catalogue: browse with facets (GET /v1/songs), search by text or by a clip
// (POST /v1/similar), results as a list a person can scan.
import { api } from "../api.js";
import { bi, clear, errorBox, h, loading } from "../dom.js";
import { recorder } from "../record.js";
import { remember, songRow, summaries } from "../songs.js";
import { taxonomy } from "../taxonomy.js";

const DIMS = ["language", "style", "scene", "emotion", "theme"];
// what POST /v1/similar can filter on; the other facets apply to browsing only
const SEARCH_FILTERS = new Set(["language", "style", "tempo"]);
const PAGE = 50;

export async function render(view, ctx) {
  const tax = await taxonomy();
  const state = { tags: {}, mode: "browse", text: ctx.query.get("q") || "", clip: null };
  const results = h("div", { class: "results" });
  const facetsEl = h("div", { class: "facets-body" });
  const num = (name, attrs) => h("input", { type: "number", name, inputmode: "decimal", ...attrs });
  const ranges = {
    min_tempo: num("min_tempo", { min: 0, max: 400, placeholder: "min" }),
    max_tempo: num("max_tempo", { min: 0, max: 400, placeholder: "max" }),
    min_energy: num("min_energy", { min: 0, max: 1, step: 0.05, placeholder: "0" }),
    max_energy: num("max_energy", { min: 0, max: 1, step: 0.05, placeholder: "1" }),
    key: h("input", { type: "text", name: "key", placeholder: "A minor / 8A", size: 8 }),
  };
  const textInput = h("input", { type: "search", name: "q", value: state.text, id: "search-text",
                                 placeholder: "适合深夜学习的安静钢琴 · heavy guitar riffs" });
  const clipInput = h("input", { type: "file", accept: "audio/*", id: "search-clip" });

  const run = async () => {
    for (const k of ["min_energy", "max_energy", "key"]) ranges[k].disabled = state.mode !== "browse";
    clear(results).append(loading("查找中", "Searching"));
    try {
      if (state.mode === "browse") await browse(); else await search();
    } catch (e) {
      if (e.name !== "AbortError") clear(results).append(errorBox(e));
    }
  };

  const filterQuery = () => {
    const q = { ...state.tags };
    for (const [k, el] of Object.entries(ranges)) if (el.value !== "") q[k] = el.value;
    return q;
  };

  async function browse() {
    const query = filterQuery();
    const out = await api("/v1/songs", { query: { ...query, limit: PAGE }, signal: ctx.signal });
    remember(out.songs);
    drawFacets(out.facets || {});
    const songs = [...out.songs];
    showList(bi(`${out.total} 首歌`, `${out.total} songs`), songs);
    // the next page on demand (newest first; the facets above count them all)
    const more = h("button", { type: "button", id: "more", class: "more" },
                   bi("加载更多", "Load more"));
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const next = await api("/v1/songs", { query: { ...query, limit: PAGE, offset: songs.length },
                                              signal: ctx.signal });
        remember(next.songs);
        songs.push(...next.songs);
        const list = results.querySelector(".song-list");
        for (const s of next.songs) list.append(songRow(tax, s, { list: songs }));
        more.disabled = false;
        if (songs.length >= next.total || !next.songs.length) more.remove();
      } catch (e) {
        if (e.name !== "AbortError") more.replaceWith(errorBox(e));
      }
    });
    if (songs.length < out.total) results.append(more);
  }

  async function search() {
    const q = filterQuery();
    api("/v1/songs", { query: { ...q, limit: 1 }, signal: ctx.signal })
      .then((out) => drawFacets(out.facets || {})).catch(() => {});
    const filters = {};
    for (const dim of ["language", "style"]) if (q[dim]) filters[dim] = q[dim];
    if (q.min_tempo) filters.min_tempo = Number(q.min_tempo);
    if (q.max_tempo) filters.max_tempo = Number(q.max_tempo);
    let out, title;
    if (state.mode === "text") {
      out = await api("/v1/similar", { json: { text: state.text, k: 20, filters },
                                       signal: ctx.signal });
      title = bi(`文字搜索「${state.text}」`, `Text search "${state.text}"`);
    } else {
      const form = new FormData();
      form.append("audio", state.clip, state.clip.name || "clip");
      form.append("k", "20");
      form.append("filters", JSON.stringify(filters));
      out = await api("/v1/similar", { form, signal: ctx.signal });
      title = bi(`片段搜索 ${state.clip.name || ""}`, "Clip search");
    }
    const songs = await summaries(out.items.map((x) => x.song_id), { signal: ctx.signal });
    const why = new Map(out.items.map((x) => [x.song_id, x]));
    showList(title, songs, (s) => {
      const item = why.get(s.song_id);
      return h("span", { class: "reason", title: "the space that matched · its score" },
               `${item.reasons.matched} · ${item.score.toFixed(3)}`);
    });
  }

  function showList(title, songs, extra) {
    const list = h("ol", { class: "song-list" },
                   songs.map((s) => songRow(tax, s, { list: songs, extra: extra && extra(s) })));
    clear(results).append(h("h2", { class: "results-title" }, title),
                          songs.length ? list : h("p", { class: "empty" },
                                                  bi("没有找到歌曲", "No songs found")));
  }

  function drawFacets(facets) {
    clear(facetsEl);
    for (const dim of DIMS) {
      const d = tax.dimensions.find((x) => x.key === dim);
      const counts = facets[dim] || [];
      const chosen = new Set(state.tags[dim] || []);
      const disabled = state.mode !== "browse" && !SEARCH_FILTERS.has(dim);
      const group = h("details", { class: `facet dim-${dim}`, open: dim !== "theme" },
                      h("summary", {}, d ? bi(d.zh, d.en) : dim));
      for (const c of counts) {
        if (!c.count && !chosen.has(c.tag)) continue;
        const en = c.en || tax.en.get(`${dim}/${c.tag}`);
        const box = h("input", { type: "checkbox", checked: chosen.has(c.tag), disabled,
                                 dataset: { dim, tag: c.tag },
                                 onchange: (ev) => toggle(dim, c.tag, ev.target.checked) });
        group.append(h("label", { class: "facet-tag" }, box, h("span", { lang: "zh" }, c.tag),
                       en && en !== c.tag ? h("span", { lang: "en" }, en) : null,
                       h("span", { class: "count" }, c.count)));
      }
      facetsEl.append(group);
    }
  }

  function toggle(dim, tag, on) {
    const set = new Set(state.tags[dim] || []);
    if (on) set.add(tag); else set.delete(tag);
    state.tags[dim] = [...set];
    if (!state.tags[dim].length) delete state.tags[dim];
    run();
  }

  const searchForm = h("form", { class: "search", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    state.text = textInput.value.trim();
    state.mode = state.text ? "text" : "browse";
    history.replaceState(null, "", state.text ? `#/?q=${encodeURIComponent(state.text)}` : "#/");
    run();
  } }, h("label", { for: "search-text" }, bi("用文字找歌", "Search by words")), textInput,
     h("button", { type: "submit", class: "primary", id: "search-go" }, bi("搜索", "Search")),
     h("button", { type: "button", onclick: () => {
       textInput.value = ""; state.mode = "browse"; state.text = "";
       history.replaceState(null, "", "#/");
       run();
     } }, bi("全部", "All")));
  clipInput.addEventListener("change", () => {
    if (!clipInput.files.length) return;
    state.clip = clipInput.files[0];
    state.mode = "clip";
    run();
  });
  const rec = recorder((blob) => { state.clip = blob; state.mode = "clip"; run(); });
  const clipForm = h("div", { class: "search clip" },
                     h("label", { for: "search-clip" }, bi("用片段找歌（相同或相似）",
                                                           "Search by a clip (same or similar)")),
                     clipInput, rec);
  const applyRanges = h("button", { type: "button", onclick: run }, bi("应用", "Apply"));
  const range = (zh, en, ...inputs) => h("div", { class: "range" }, h("span", {}, bi(zh, en)),
                                         h("span", { class: "inputs" }, inputs));
  const rangeBox = h("div", { class: "ranges" },
    range("速度", "Tempo (BPM)", ranges.min_tempo, "–", ranges.max_tempo),
    range("能量", "Energy (0–1)", ranges.min_energy, "–", ranges.max_energy),
    range("调", "Key", ranges.key), applyRanges);
  for (const el of Object.values(ranges)) {
    el.addEventListener("keydown", (ev) => { if (ev.key === "Enter") run(); });
  }
  view.append(
    h("div", { class: "page catalogue" },
      h("div", { class: "searches card" }, searchForm, clipForm),
      h("div", { class: "two-col" },
        h("aside", { class: "facets card", "aria-label": "filters" },
          h("h2", {}, bi("筛选", "Filters")), rangeBox, facetsEl),
        results)));
  if (state.text) state.mode = "text";
  await run();
}
