// 听众 Listener view, cold start made visible: pick or create a listener; a new one onboards
// (tags and songs → POST /v1/recall onboarding); play / skip / like post real /v1/feedback
// events; the profile (GET /v1/users/{id}) and the recommendations (user_new_songs) follow.
import { api } from "../api.js";
import { bi, clear, debounce, errorBox, h, loading, section } from "../dom.js";
import { current, next, onPlayer, playSong } from "../player.js";
import { remember, songRow, summaries } from "../songs.js";
import { tagChip, tagPicker, taxonomy } from "../taxonomy.js";
import { profileView } from "./listener_profile.js";

const RECENT = "songlens.listeners";

function recent() {
  try { return JSON.parse(localStorage.getItem(RECENT) || "[]"); } catch { return []; }
}

function rememberListener(id) {
  const ids = [id, ...recent().filter((x) => x !== id)].slice(0, 8);
  localStorage.setItem(RECENT, JSON.stringify(ids));
}

/** A recall reason (interest:0, short, long, tags:scene, als, artist:…, album:…) in words; the
 * code stays in data-reason. */
function reasonLabel(tax, reason) {
  const at = String(reason).indexOf(":");
  const [kind, arg] = at < 0 ? [String(reason), ""] : [reason.slice(0, at), reason.slice(at + 1)];
  const dim = tax.dimensions.find((d) => d.key === arg);
  const words = {
    interest: [`像你的兴趣 ${Number(arg) + 1}`, `like your interest ${Number(arg) + 1}`],
    short: ["像你今天听的", "like what you played today"],
    long: ["合你的长期口味", "fits your long-term taste"],
    tags: [`你选的${dim ? dim.zh : arg}`, `your chosen ${dim ? dim.en.toLowerCase() : arg}`],
    als: ["和你口味相近的人在听", "listeners who play what you play play it"],
    artist: [`同一歌手 ${arg}`, `same artist: ${arg}`],
    album: [`同一专辑 ${arg}`, `same album: ${arg}`],
  }[kind] || [reason, reason];
  return h("span", { class: "reason rec-reason", title: reason, dataset: { reason } },
           bi(words[0], words[1]));
}

function newId() {
  const r = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
  return `listener-${r.slice(0, 8)}`;
}

export async function render(view, ctx) {
  const tax = await taxonomy();
  const userId = ctx.params[0] || "";
  const input = h("input", { type: "text", id: "listener-id", value: userId, placeholder: "user id" });
  const open = (id) => { if (id) location.hash = `#/listener/${encodeURIComponent(id)}`; };
  view.append(h("div", { class: "page listener" },
    h("form", { class: "card", onsubmit: (ev) => { ev.preventDefault(); open(input.value.trim()); } },
      h("h1", {}, bi("听众", "Listener")),
      h("div", { class: "search" }, h("label", { for: "listener-id" }, bi("选择听众", "Pick a listener")),
        input, h("button", { type: "submit" }, bi("打开", "Open")),
        h("button", { type: "button", id: "listener-new", onclick: () => open(newId()) },
          bi("新建听众", "New listener"))),
      recent().length ? h("p", { class: "muted" }, bi("最近", "Recent"), " ",
        recent().map((id) => h("a", { href: `#/listener/${encodeURIComponent(id)}`, class: "chip kw" }, id)))
        : null)));
  if (!userId) return;
  rememberListener(userId);
  const body = h("div", {}, loading());
  view.querySelector(".page").append(body);
  let profile = null;
  try {
    profile = await api(`/v1/users/${encodeURIComponent(userId)}`, { signal: ctx.signal });
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  clear(body);
  if (profile) listening(body, tax, userId, profile, null, ctx);
  else body.append(onboarding(tax, userId, ctx, (out) => listening(clear(body), tax, userId, null, out, ctx)));
}

function onboarding(tax, userId, ctx, done) {
  const picker = tagPicker(tax, { name: "onb", dims: ["language", "style", "scene", "emotion"],
                                  open: ["style", "scene"] });
  const songsBox = h("div", { class: "onb-songs" }, loading());
  const chosen = new Set();
  api("/v1/songs", { query: { limit: 30 }, signal: ctx.signal }).then((out) => {
    remember(out.songs);
    clear(songsBox).append(...out.songs.map((s) => h("label", { class: "pick" },
      h("input", { type: "checkbox", value: s.song_id,
                   onchange: (ev) => (ev.target.checked ? chosen.add(s.song_id) : chosen.delete(s.song_id)) }),
      `${s.title} · ${s.artist}`)));
  }).catch((e) => clear(songsBox).append(errorBox(e)));
  const status = h("div", {});
  const start = async () => {
    clear(status).append(loading());
    try {
      const out = await api("/v1/recall", { json: { mode: "onboarding", tags: picker.value(),
        liked_song_ids: [...chosen], user_id: userId, k: 20 }, signal: ctx.signal });
      done(out);
    } catch (e) {
      if (e.name !== "AbortError") clear(status).append(errorBox(e));
    }
  };
  return section(`欢迎，${userId}`, "Welcome: what do you like?",
    h("p", { class: "hint" }, bi("选几个标签或几首歌，songlens 马上给出推荐。",
                                 "Choose a few tags or songs, and songlens recommends new songs right away.")),
    picker.el, h("h3", {}, bi("喜欢的歌", "Songs you like")), songsBox,
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", id: "onb-start",
                                                  onclick: start }, bi("开始推荐", "Recommend"))),
    status);
}

function listening(root, tax, userId, profile, first, ctx) {
  const recsBox = h("div", { id: "recs" });
  const moreBox = h("div", { id: "more-songs" });
  const profileBox = h("div", { id: "profile" });
  const status = h("div", { class: "fb-status", "aria-live": "polite" });
  const post = async (song, event, extra = {}) => {
    const id = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    try {
      await api("/v1/feedback", { json: { events: [{ user_id: userId, song_id: song.song_id, event,
        ts: Date.now() / 1000, event_id: id, ...extra }] } });
      status.replaceChildren();
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
    refresh();
  };
  const buttons = (song) => h("span", { class: "feedback" },
    h("button", { type: "button", class: "fb-play", onclick: () => { playSong(song); } }, "▶ ", bi("播放", "Play")),
    h("button", { type: "button", class: "fb-skip", onclick: (ev) => {
      ev.currentTarget.classList.add("on");
      if (current() && current().song_id === song.song_id) next();
      post(song, "skip");
    } }, "▶| ", bi("跳过", "Skip")),
    h("button", { type: "button", class: "fb-like", onclick: (ev) => {
      ev.currentTarget.classList.add("on"); post(song, "like");
    } }, "♥ ", bi("喜欢", "Like")));
  const off = onPlayer((what, song, audio) => {
    if (what === "start") post(song, "play");
    if (what === "ended") {
      post(song, "complete", { play_ms: Math.round((audio.duration || 0) * 1000) });
    }
  });
  ctx.signal.addEventListener("abort", off);

  const showRecs = async (out) => {
    const songs = await summaries(out.items.map((x) => x.song_id), { signal: ctx.signal });
    const why = new Map(out.items.map((x) => [x.song_id, x]));
    clear(recsBox).append(songs.length ? h("ol", { class: "song-list recs" }, songs.map((s) => {
      const r = why.get(s.song_id);
      return songRow(tax, s, { extra: [reasonLabel(tax, r.reason),
        Object.entries(r.matched_tags || {}).map(([d, ts]) => ts.map((t) => tagChip(tax, d, t))),
        buttons(s)] });
    })) : h("p", { class: "muted" }, bi("暂时没有新歌可推荐", "No new songs to recommend right now")));
  };
  const loadRecs = async () => {
    try {
      await showRecs(await api("/v1/recall", { json: { mode: "user_new_songs", user_id: userId, k: 20 },
                                               signal: ctx.signal }));
    } catch (e) {
      if (e.name !== "AbortError") clear(recsBox).append(errorBox(e));
    }
  };
  const loadProfile = async () => {
    try {
      const p = await api(`/v1/users/${encodeURIComponent(userId)}`, { signal: ctx.signal });
      clear(profileBox).append(profileView(tax, p));
    } catch (e) {
      if (e.name !== "AbortError") clear(profileBox).append(errorBox(e));
    }
  };
  const refresh = debounce(() => { loadProfile(); loadRecs(); }, 300);

  api("/v1/songs", { query: { limit: 30 }, signal: ctx.signal }).then(async (out) => {
    remember(out.songs);
    clear(moreBox).append(h("ol", { class: "song-list more" },
      out.songs.map((s) => songRow(tax, s, { extra: buttons(s) }))));
  }).catch((e) => { if (e.name !== "AbortError") clear(moreBox).append(errorBox(e)); });

  root.append(
    status,
    section("为你推荐的新歌", "New songs for you", recsBox),
    section("听众画像", "Profile", profileBox),
    section("更多歌曲：听一听，表个态", "More songs: listen and react", moreBox));
  if (first) showRecs(first); else loadRecs();
  if (profile) clear(profileBox).append(profileView(tax, profile)); else loadProfile();
}
