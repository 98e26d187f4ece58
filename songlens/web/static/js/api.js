// The JSON API, as the pages call it: every call is an async fetch (the page never waits on a
// request), with the API key the user gave (kept in localStorage) as `Authorization: Bearer`.
// Errors become ApiError with the API's stable code and message.

const KEY_STORE = "songlens.apiKey";

export function apiKey() {
  try { return localStorage.getItem(KEY_STORE) || ""; } catch { return ""; }
}

export function setApiKey(key) {
  const k = (key || "").trim();
  if (k) localStorage.setItem(KEY_STORE, k); else localStorage.removeItem(KEY_STORE);
  audioUrls.clear();
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const key = apiKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

/** Call the API. `json` sends a JSON body, `form` a FormData (multipart). */
export async function api(path, { method, json, form, signal, query } = {}) {
  let url = path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === "") continue;
      for (const one of Array.isArray(v) ? v : [v]) qs.append(k, String(one));
    }
    const s = qs.toString();
    if (s) url += `?${s}`;
  }
  const init = { method: method || (json || form ? "POST" : "GET"), signal };
  if (json !== undefined) {
    init.headers = headers({ "Content-Type": "application/json" });
    init.body = JSON.stringify(json);
  } else {
    init.headers = headers();
    if (form) init.body = form;
  }
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "服务器无法连接 The server cannot be reached");
  }
  if (r.status === 204) return null;
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const err = body && body.error ? body.error : {};
    const e = new ApiError(r.status, err.code || `http_${r.status}`,
                           err.message || r.statusText || "request failed");
    if (r.status === 401 || r.status === 403) {
      window.dispatchEvent(new CustomEvent("songlens:auth", { detail: e }));
    }
    throw e;
  }
  return body;
}

// Audio: a key-less local server streams the file straight into <audio src> (range requests, so
// seeking fetches only what it needs). With a key the media element cannot send the header, so
// the file is fetched once with it and played from a blob URL (seekable too, but downloaded whole).
const audioUrls = new Map();

export async function audioSource(url) {
  if (!url) return null;
  if (!apiKey()) return url;
  if (audioUrls.has(url)) return audioUrls.get(url);
  const r = await fetch(url, { headers: headers({ Accept: "audio/*" }) });
  if (!r.ok) throw new ApiError(r.status, `http_${r.status}`, "audio not available");
  const blobUrl = URL.createObjectURL(await r.blob());
  audioUrls.set(url, blobUrl);
  return blobUrl;
}

/** Where a song's kept audio is served (null when the server says it keeps none). */
export function audioUrlOf(song) {
  if (song && "audio_url" in song) return song.audio_url;
  return song && song.song_id ? `/v1/songs/${encodeURIComponent(song.song_id)}/audio` : null;
}
