"""Lookups while songs are ingested continuously into a running server, with and without the
index kept current in the background (issue 12).

A 100k-song synthetic catalogue (``live_index_prepare.py``: the construction of
``benchmarks/lookup.py``, upserted and left unindexed, as a store grown through the API is) is
copied per phase and served by ``songlens serve`` in a child process. Three clients run against
it at once: a poster that POSTs a new song every ``--post-every`` seconds through
``/v1/songs`` (real audio through the real pipeline: a 10 s synthesised chord-and-noise clip,
different each time), a reader that sends similar-song and playlist requests back to back, and
a monitor that reads the index state from ``/healthz`` every 2 s.

Phases: ``before`` (``qdrant.index_upkeep_points: 0``: today's behaviour, nothing indexes the
store while it serves) and ``after`` (the upkeep thread: the store's index is rebuilt out of
process and swapped in; runs until ``--builds`` builds finished, then ``--tail-min`` more).

    PYTHONPATH=$PWD python benchmarks/live_index_prepare.py /tmp/li/pristine --n 100000
    PYTHONPATH=$PWD python benchmarks/live_index.py /tmp/li --phase after --phase before
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from songlens.store.edge_index import copy_folder

KINDS = ("similar", "playlist")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clip(i: int, sr: int = 16000, seconds: float = 10.0) -> bytes:
    """A distinct 10 s WAV: a chord of three partials that changes every 2.5 s, plus noise."""
    import soundfile as sf

    rng = np.random.default_rng(1000 + i)
    t = np.arange(int(sr * seconds)) / sr
    y = np.zeros_like(t)
    for k in range(4):
        seg = (t >= k * 2.5) & (t < (k + 1) * 2.5)
        for f in 110 * 2 ** (rng.integers(0, 36, size=3) / 12):
            y[seg] += np.sin(2 * np.pi * f * t[seg]) / 3
    y = 0.5 * y + 0.05 * rng.normal(size=t.size)
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), sr, format="WAV")
    return buf.getvalue()


class Run:
    """One phase: a server on a copy of the catalogue and the three clients."""

    def __init__(self, root: Path, phase: str, args: argparse.Namespace, info: dict) -> None:
        self.root, self.phase, self.args, self.info = root, phase, args, info
        self.data = root / f"run-{phase}"
        self.stop = threading.Event()
        self.reads: list[tuple[float, str, float, int]] = []   # (t, kind, seconds, status)
        self.posts: list[tuple[float, float, int]] = []
        self.states: list[tuple[float, dict]] = []
        self.posted: list[str] = []

    def serve(self) -> subprocess.Popen:
        import yaml

        if self.data.exists():
            shutil.rmtree(self.data)
        t0 = time.perf_counter()
        copy_folder(self.root / "pristine", self.data)
        self.copy_s = time.perf_counter() - t0
        q = {"index_upkeep_points": 0 if self.phase == "before" else self.args.upkeep_points,
             "index_upkeep_every_s": self.args.upkeep_every_s, "index_build_nice": self.args.nice}
        if self.args.indexing_kb:
            q["indexing_threshold_kb"] = self.args.indexing_kb
        cfg = self.data / "songlens.yaml"
        cfg.write_text(yaml.safe_dump({"data_dir": str(self.data), "log_level": "INFO",
                                       "qdrant": q}))
        self.port = _free_port()
        self.log = (self.data / "server.log").open("wb")
        return subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                                 str(cfg), "--port", str(self.port)],
                                env=dict(os.environ, HF_HUB_OFFLINE="1"), stdout=self.log,
                                stderr=subprocess.STDOUT)

    def client(self):
        import httpx

        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=300)

    def poster(self) -> None:
        i = 0
        with self.client() as c:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                sid = f"live-{self.phase}-{i:05d}"
                r = c.post("/v1/songs", files={"audio": (f"{sid}.wav", clip(i), "audio/wav")},
                           data={"metadata": json.dumps({"song_id": sid, "title": f"Live {i}",
                                                         "artist": "Poster"})})
                dt = time.perf_counter() - t0
                self.posts.append((t0, dt, r.status_code))
                if r.status_code == 201:
                    self.posted.append(sid)
                i += 1
                self.stop.wait(max(0.0, self.args.post_every - dt))

    def reader(self) -> None:
        rng = np.random.default_rng(self.args.seed)
        n, top = self.info["n"], self.info["top_tags"]
        with self.client() as c:
            j = 0
            while not self.stop.is_set():
                j += 1
                if j % 4:
                    if self.posted and j % 8 == 1:
                        sid = self.posted[int(rng.integers(len(self.posted)))]
                    else:
                        sid = f"lk{int(rng.integers(n)):07d}"
                    space = "&space=audio" if j % 6 == 0 else ""
                    kind, method, url, body = "similar", "GET", \
                        f"/v1/songs/{sid}/similar?k=10{space}", None
                else:
                    style, emo = top["style"], top["emotion"]
                    body = [{"tags": {"style": [style[int(rng.integers(min(3, len(style))))]]}},
                            {"tags": {"emotion": [emo[int(rng.integers(min(3, len(emo))))]]},
                             "flow": "arc"},
                            {"seed_songs": [f"lk{int(rng.integers(n)):07d}"]}][(j // 4) % 3]
                    body["length"] = 20
                    kind, method, url = "playlist", "POST", "/v1/playlists"
                t0 = time.perf_counter()
                r = c.request(method, url, json=body)
                self.reads.append((t0, kind, time.perf_counter() - t0, r.status_code))

    def monitor(self) -> None:
        with self.client() as c:
            while not self.stop.wait(2.0):
                try:
                    h = c.get("/healthz").json()
                except Exception:  # noqa: BLE001 - a missed sample is a gap, not a failure
                    continue
                self.states.append((time.perf_counter(), (h.get("index") or {}).get("songs")
                                    or {}))

    def run(self) -> dict[str, Any]:
        import httpx

        proc = self.serve()
        t0 = time.perf_counter()
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit((self.data / "server.log").read_text()[-3000:])
                try:
                    if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            startup = time.perf_counter() - t0
            threads = [threading.Thread(target=f) for f in (self.poster, self.reader,
                                                            self.monitor)]
            t_begin = time.perf_counter()
            for t in threads:
                t.start()
            done_at = None
            while True:
                time.sleep(2)
                elapsed = (time.perf_counter() - t_begin) / 60
                builds = self.states[-1][1].get("builds", 0) if self.states else 0
                if self.phase == "after" and builds >= self.args.builds and done_at is None:
                    done_at = time.perf_counter()
                if self.phase == "before" and elapsed >= self.args.before_min:
                    break
                if done_at is not None and time.perf_counter() - done_at >= 60 * \
                        self.args.tail_min:
                    break
                if elapsed >= self.args.max_min:
                    break
            self.stop.set()
            for t in threads:
                t.join()
            rss = _rss(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
            self.log.close()
        return self.report(t_begin, startup, rss)

    def report(self, t_begin: float, startup: float, rss: float) -> dict[str, Any]:
        building = _intervals(self.states)
        out: dict[str, Any] = {"phase": self.phase, "startup_s": startup, "rss_mib": rss,
                               "copy_s": self.copy_s,
                               "minutes": (time.perf_counter() - t_begin) / 60,
                               "build_intervals_s": [(a - t_begin, b - t_begin)
                                                     for a, b in building],
                               "final_state": self.states[-1][1] if self.states else None}
        for kind in KINDS:
            rows = [r for r in self.reads if r[1] == kind]
            ok = [r for r in rows if r[3] == 200]
            during = [r for r in ok if any(a <= r[0] <= b for a, b in building)]
            out[kind] = {"all": _pct([r[2] for r in ok]), "during_build": _pct([r[2] for r in
                                                                               during]),
                         "errors": len(rows) - len(ok),
                         "over_1s": [(round(r[0] - t_begin, 1), round(r[2], 2)) for r in ok
                                     if r[2] > 1.0]}
        edges = [e for ab in out["build_intervals_s"] for e in ab]
        for kind in KINDS:  # slow requests near a build's copy (start) or swap (end)
            out[kind]["over_1s_near_copy_or_swap"] = near_edges(out[kind]["over_1s"], edges)
        ok = [p for p in self.posts if p[2] == 201]
        out["posts"] = {"n": len(self.posts), "ok": len(ok), **_pct([p[1] for p in ok])}
        return out


def near_edges(slow: list[tuple[float, float]], edges: list[float], slack: float = 6.0
               ) -> int:
    """How many of the ``(start, seconds)`` slow requests overlapped a build's start or end
    (the monitor samples every 2 s, so ``slack`` seconds either side)."""
    return sum(1 for t, d in slow if any(t - slack <= e <= t + d + slack for e in edges))


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _intervals(states: list[tuple[float, dict]]) -> list[tuple[float, float]]:
    """(start, end) of each stretch of samples that said a build was running."""
    out, start = [], None
    for t, st in states:
        if st.get("building") and start is None:
            start = t
        elif not st.get("building") and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, states[-1][0]))
    return out


def _pct(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0}
    a = 1000 * np.asarray(xs)
    return {"n": len(a), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max()), "over_1s": int((a > 1000).sum())}


def open_cost(root: Path, repeats: int = 3) -> dict[str, Any]:
    """What a swap makes requests wait for, measured on the catalogue's folder: closing a shard
    and opening one of the same size (the journal replay adds milliseconds), and the copy that
    makes writes wait when a build starts."""
    import qdrant_edge as qe

    src = root / "pristine" / "qdrant" / "songs"
    out: dict[str, list[float]] = {"copy_s": [], "load_s": [], "close_s": []}
    for r in range(repeats):
        dest = root / f"open-cost-{r}"
        shutil.rmtree(dest, ignore_errors=True)
        t0 = time.perf_counter()
        copy_folder(src, dest)
        out["copy_s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        shard = qe.EdgeShard.load(str(dest))
        shard.count(qe.CountRequest(exact=True))
        out["load_s"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        shard.flush()
        shard.close()
        out["close_s"].append(time.perf_counter() - t0)
        shutil.rmtree(dest, ignore_errors=True)
    return {k: {"median": float(np.median(v)), "max": float(max(v))} for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", type=Path, help="folder holding pristine/ (live_index_prepare.py)")
    ap.add_argument("--phase", action="append", choices=("before", "after"))
    ap.add_argument("--post-every", type=float, default=5.0, help="seconds between posts")
    ap.add_argument("--upkeep-points", type=int, default=2000)
    ap.add_argument("--upkeep-every-s", type=float, default=10.0)
    ap.add_argument("--indexing-kb", type=int, default=None,
                    help="qdrant.indexing_threshold_kb (None: the engine's default)")
    ap.add_argument("--nice", type=int, default=10, help="qdrant.index_build_nice")
    ap.add_argument("--builds", type=int, default=1, help="after: builds to wait for")
    ap.add_argument("--tail-min", type=float, default=3.0, help="after: minutes after them")
    ap.add_argument("--before-min", type=float, default=6.0)
    ap.add_argument("--max-min", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--open-cost", action="store_true",
                    help="time copying, opening and closing the catalogue's shard first")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    info = json.loads((args.root / "pristine" / "catalogue.json").read_text(encoding="utf-8"))
    results = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                     time.gmtime()),
               "cpu": _cpu(), "phases": []}
    if args.open_cost:
        results["open_cost"] = open_cost(args.root)
        print(json.dumps(results["open_cost"]), flush=True)
    for phase in args.phase or []:
        load0 = Path("/proc/loadavg").read_text().split()[:3]
        print(f"[{phase}]", file=sys.stderr, flush=True)
        res = Run(args.root, phase, args, info).run()
        res["load"] = [load0, Path("/proc/loadavg").read_text().split()[:3]]
        results["phases"].append(res)
        print(json.dumps(res, indent=1), flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")


def _cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                 if ln.startswith("Model name")), "?")


if __name__ == "__main__":
    main()
