"""The web app as a browser sees it: page load and text-search latency in headless chromium
(playwright, the system browser), measured with the Performance API, against the JSON API calls
behind them made directly (httpx) in the same run.

    .venv/bin/python benchmarks/webapp.py [--runs 20] [--demo] [--out benchmarks/results/webapp.md]

A real ``songlens serve`` on a temp data folder with the three clips of tests/fixtures/audio
(``--demo``: also the demo catalog, 8 full songs). For each run:

- load: a new tab opens ``/`` (the catalogue: shell, modules, taxonomy, browse with facets);
  ``domContentLoaded`` and ``ready`` (the app's ``songlens:ready`` mark, set when the page has
  drawn its results) from the navigation start; reference: GET /v1/taxonomy + GET /v1/songs
  over httpx.
- search: type a prompt and press Search; time until the results are drawn (search, then the
  summaries of the hits); reference: POST /v1/similar alone over httpx.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.harness import (  # noqa: E402
    CHROMIUM,
    chromium_missing,
    ingest_songs,
    start_server,
    stop_server,
)

QUERIES = ["适合深夜学习的安静钢琴", "heavy guitar riffs", "运动 燃", "quiet piano at night"]
SEARCH_JS = """async (q) => {
  const results = document.querySelector('.results');
  const t0 = performance.now();
  const done = new Promise((ok) => {
    const obs = new MutationObserver(() => {
      const title = results.querySelector('.results-title');
      if (title && title.textContent.includes(q) && results.querySelector('.song-row')) {
        obs.disconnect(); ok();
      }
    });
    obs.observe(results, {childList: true, subtree: true});
  });
  document.querySelector('#search-text').value = q;
  document.querySelector('#search-go').click();
  await done;
  return performance.now() - t0;
}"""


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summary(xs: list[float]) -> str:
    return f"{statistics.median(xs):.0f} / {pct(xs, 0.9):.0f}"


def measure(base: str, runs: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {k: [] for k in
                                   ("dcl", "ready", "api_load", "search", "api_search")}
    with sync_playwright() as p, httpx.Client(base_url=base, timeout=60) as http:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        ctx = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        for warm in (True, False):  # one untimed round first: imports, models warm
            for i in range(1 if warm else runs):
                page = ctx.new_page()
                page.goto("/#/")
                page.wait_for_selector(".results .song-row")
                nav = page.evaluate("""() => {
                  const n = performance.getEntriesByType('navigation')[0];
                  const r = performance.getEntriesByName('songlens:ready');
                  return [n.domContentLoadedEventEnd, r.length ? r[r.length - 1].startTime : null];
                }""")
                t0 = time.perf_counter()
                http.get("/v1/taxonomy").raise_for_status()
                http.get("/v1/songs", params={"limit": 100}).raise_for_status()
                api_load = (time.perf_counter() - t0) * 1000
                q = QUERIES[i % len(QUERIES)]
                search = page.evaluate(SEARCH_JS, q)
                t0 = time.perf_counter()
                http.post("/v1/similar", json={"text": q, "k": 20}).raise_for_status()
                api_search = (time.perf_counter() - t0) * 1000
                page.close()
                if warm:
                    continue
                out["dcl"].append(nav[0])
                out["ready"].append(nav[1])
                out["api_load"].append(api_load)
                out["search"].append(search)
                out["api_search"].append(api_search)
        browser.close()
    return out


def machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                   if line.startswith("Model name"))
    except (OSError, StopIteration):
        cpu = "unknown CPU"
    return f"{cpu}, {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--demo", action="store_true", help="also ingest the demo catalog")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "webapp.md",
                    help="write the Markdown section and every run's figures here")
    args = ap.parse_args()
    reason = chromium_missing()
    if reason:
        sys.exit(f"cannot run: {reason}")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(Path(tmp), demo=args.demo, timeout_s=900)
        try:
            ingest_songs(base)
            songs = httpx.get(f"{base}/healthz").json()["songs"]
            res = measure(base, args.runs)
        finally:
            stop_server(proc)
    load_after = os.getloadavg()
    ratio_load = statistics.median(res["ready"]) / statistics.median(res["api_load"])
    ratio_search = statistics.median(res["search"]) / statistics.median(res["api_search"])
    cmd = "python benchmarks/webapp.py " + " ".join(sys.argv[1:])
    rows = [
        ("catalogue load: DOMContentLoaded", summary(res["dcl"]), "", ""),
        ("catalogue load: results drawn (`songlens:ready`)", summary(res["ready"]),
         f"{summary(res['api_load'])} (taxonomy + browse)", f"{ratio_load:.1f}×"),
        ("text search: click → results drawn", summary(res["search"]),
         f"{summary(res['api_search'])} (POST /v1/similar)", f"{ratio_search:.1f}×"),
    ]
    catalogue = "the test clips and the demo catalog" if args.demo else "the test clips"
    text = f"""
## Web app in the browser ({dt.date.today().isoformat()})

`{cmd.strip()}` — headless Debian chromium (playwright), a real server on loopback with
{songs} songs ({catalogue}), {args.runs} runs after one warm-up; machine: {machine()};
load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (other jobs share the cores).
Milliseconds, p50 / p90.

| what | browser | API alone (httpx) | ratio (p50) |
|---|---|---|---|
""" + "".join(f"| {' | '.join(r)} |\n" for r in rows)
    raw = "\nEvery run (ms):\n\n" + "".join(
        f"- {k}: {', '.join(f'{v:.0f}' for v in vals)}\n" for k, vals in res.items())
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text.lstrip() + raw, encoding="utf-8")


if __name__ == "__main__":
    main()
