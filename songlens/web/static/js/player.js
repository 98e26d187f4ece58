// The player bar at the bottom of every page: plays one song or a queue (a playlist, search
// results) in order. Only one audio element plays at a time on the page.
import { audioSource, audioUrlOf } from "./api.js";
import { h } from "./dom.js";

const listeners = new Set();
let queue = [];
let index = -1;

function bar() {
  return {
    root: document.getElementById("player-bar"),
    audio: document.getElementById("bar-audio"),
    now: document.getElementById("bar-now"),
  };
}

/** Called with ("start" | "ended" | "paused", song, audio) as the bar plays. */
export function onPlayer(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(what) {
  const song = queue[index];
  if (song) for (const fn of listeners) fn(what, song, bar().audio);
}

export function current() { return queue[index] || null; }

export async function playQueue(songs, start = 0) {
  const first = songs[start];
  queue = songs.filter((x) => audioUrlOf(x));
  index = -1;
  if (!queue.length) return;
  await playAt(Math.max(0, queue.indexOf(first)));
}

export function playSong(song) { return playQueue([song], 0); }

async function playAt(i) {
  const { root, audio, now } = bar();
  index = i;
  const song = queue[i];
  root.hidden = false;
  now.replaceChildren(
    h("a", { href: `#/song/${encodeURIComponent(song.song_id)}`, class: "title" },
      song.title || song.song_id),
    song.artist ? h("span", { class: "artist" }, ` · ${song.artist}`) : null,
    queue.length > 1 ? h("span", { class: "pos" }, ` (${i + 1}/${queue.length})`) : null);
  try {
    audio.src = await audioSource(audioUrlOf(song));
    await audio.play();
    emit("start");
  } catch (e) {
    if (e.name !== "AbortError") now.append(h("span", { class: "error-inline" }, ` ${e.message}`));
  }
}

export function next() {
  if (index + 1 < queue.length) playAt(index + 1); else bar().audio.pause();
}
export function prev() { if (index > 0) playAt(index - 1); }

export function installPlayer() {
  const { audio } = bar();
  audio.addEventListener("ended", () => { emit("ended"); next(); });
  document.getElementById("bar-next").addEventListener("click", next);
  document.getElementById("bar-prev").addEventListener("click", prev);
  // one sound at a time: starting any audio element pauses the others
  document.addEventListener("play", (ev) => {
    for (const el of document.querySelectorAll("audio")) if (el !== ev.target) el.pause();
  }, true);
}

/** A ▶ button that plays `song` (or the queue `list` from `song`) in the bar. */
export function playButton(song, list) {
  const disabled = !audioUrlOf(song);
  return h("button", {
    type: "button", class: "play", disabled,
    title: disabled ? "没有保存音频 No audio kept" : "播放 Play",
    "aria-label": `播放 Play ${song.title || song.song_id}`,
    onclick: () => (list ? playQueue(list, list.indexOf(song)) : playSong(song)),
  }, "▶");
}
