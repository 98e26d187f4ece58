// The shell: routes #/..., the API key dialog, the player bar. Each page is a module exporting
// render(view, ctx) (ctx.params from the route, ctx.signal aborted when the user navigates away).
import { apiKey, setApiKey } from "./api.js";
import { clear, errorBox, loading } from "./dom.js";
import { installPlayer } from "./player.js";

const ROUTES = [
  [/^\/?$/, "catalogue", () => import("./pages/catalogue.js")],
  [/^\/song\/(.+)$/, "catalogue", () => import("./pages/song.js")],
  [/^\/playlist$/, "playlist", () => import("./pages/playlist.js")],
  [/^\/listener(?:\/(.+))?$/, "listener", () => import("./pages/listener.js")],
  [/^\/ingest$/, "ingest", () => import("./pages/ingest.js")],
];

let current = null;

async function route() {
  const path = decodeURIComponent(location.hash.replace(/^#/, "").split("?")[0]) || "/";
  const query = new URLSearchParams(location.hash.split("?")[1] || "");
  const view = document.getElementById("view");
  if (current) current.abort();
  current = new AbortController();
  const ctx = { signal: current.signal, query, params: [] };
  let found = ROUTES.find(([re]) => re.test(path));
  if (!found) found = ROUTES[0];
  const [re, nav, load] = found;
  ctx.params = (path.match(re) || []).slice(1);
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === nav);
  }
  view.dataset.ready = "0";
  clear(view).append(loading());
  document.body.dataset.page = nav;
  try {
    const page = await load();
    if (ctx.signal.aborted) return;
    clear(view);
    await page.render(view, ctx);
  } catch (e) {
    if (e.name === "AbortError" || ctx.signal.aborted) return;
    clear(view).append(errorBox(e));
  }
  view.dataset.ready = "1";
  performance.mark("songlens:ready", { detail: nav });
}

function installKeyDialog() {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  const state = document.getElementById("key-state");
  const reason = document.getElementById("key-reason");
  const show = () => { state.textContent = apiKey() ? "✓ " : ""; };
  document.getElementById("key-button").addEventListener("click", () => {
    reason.textContent = "";
    input.value = apiKey();
    dialog.showModal();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "save") setApiKey(input.value);
    if (dialog.returnValue === "clear") setApiKey("");
    if (dialog.returnValue !== "cancel") { show(); route(); }
  });
  window.addEventListener("songlens:auth", (ev) => {
    if (dialog.open) return;
    reason.textContent = ev.detail.message;
    input.value = apiKey();
    dialog.showModal();
  });
  show();
}

installPlayer();
installKeyDialog();
window.addEventListener("hashchange", route);
route();
