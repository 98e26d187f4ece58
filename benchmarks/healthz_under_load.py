"""/healthz latency while N simultaneous audio-similar uploads hit a real server on loopback,
before (a git revision, run from a temporary worktree) and after (this checkout), in one run;
plus how many uploads got 200 vs 429 and their latencies.

    .venv/bin/python benchmarks/healthz_under_load.py [--n 100] [--before a32f701]
        [--out benchmarks/results/healthz_under_load.md]

Each server is ``songlens serve`` on a fresh data folder (an empty catalog: the search is
trivial, the decoding and the audio model are the work), started with the same interpreter and
``PYTHONPATH`` pointing at its checkout. Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import soundfile as sf
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "tests" / "fixtures" / "audio" / "feelings.ogg"
PHASE_LIMIT_S = 150.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clip(seconds: float) -> bytes:
    y, sr = sf.read(CLIP)
    buf = io.BytesIO()
    sf.write(buf, y[: int(seconds * sr)], sr, format="WAV")
    return buf.getvalue()


def _start(checkout: Path, data: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cfg = data / "songlens.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(data / "data"), "log_level": "ERROR"}))
    env = dict(os.environ, PYTHONPATH=str(checkout), HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "songlens.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port)], cwd=checkout, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server from {checkout} exited at start-up")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start within 120 s")


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


async def _load(base: str, n: int, clip: bytes) -> dict:
    health: list[float] = []
    health_fail = 0
    uploads: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(timeout=PHASE_LIMIT_S, limits=limits) as client, \
            httpx.AsyncClient(timeout=30) as hc:
        async def one(i: int) -> None:
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{base}/v1/similar", data={"k": "5"},
                                      files={"audio": (f"q{i}.wav", clip, "audio/wav")})
                uploads.append((r.status_code, time.perf_counter() - t0))
            except httpx.HTTPError:
                uploads.append((-1, time.perf_counter() - t0))

        tasks = [asyncio.create_task(one(i)) for i in range(n)]
        t_start = time.perf_counter()
        while (not all(t.done() for t in tasks) and time.perf_counter() - t_start < PHASE_LIMIT_S
               and len(health) + health_fail < 10_000):
            t0 = time.perf_counter()
            try:
                r = await hc.get(f"{base}/healthz", timeout=30)
                if r.status_code == 200:
                    health.append(time.perf_counter() - t0)
                else:
                    health_fail += 1
            except httpx.HTTPError:
                health_fail += 1
            await asyncio.sleep(0.05)
        done, pending = await asyncio.wait(tasks, timeout=max(
            1.0, PHASE_LIMIT_S - (time.perf_counter() - t_start)))
        for t in pending:
            t.cancel()
        wall = time.perf_counter() - t_start
    by_status: dict[int, list[float]] = {}
    for status, dt in uploads:
        by_status.setdefault(status, []).append(dt)
    return {"health": health, "health_fail": health_fail, "by_status": by_status,
            "unfinished": len(pending), "wall": wall}


def _row(label: str, res: dict) -> str:
    h = res["health"]
    ms = [x * 1000 for x in h]
    return (f"| {label} | {len(h)} | {statistics.median(ms) if ms else float('nan'):.0f} | "
            f"{_pct(ms, 0.99):.0f} | {max(ms) if ms else float('nan'):.0f} | "
            f"{res['health_fail']} | {res['wall']:.1f} |")


def _upload_rows(label: str, res: dict) -> list[str]:
    rows = []
    for status, dts in sorted(res["by_status"].items()):
        rows.append(f"| {label} | {status if status > 0 else 'error'} | {len(dts)} | "
                    f"{statistics.median(dts):.2f} | {max(dts):.2f} |")
    if res["unfinished"]:
        rows.append(f"| {label} | unfinished at {PHASE_LIMIT_S:.0f} s | {res['unfinished']} | | |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="simultaneous uploads")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of the uploaded clip")
    ap.add_argument("--before", default="a32f701", help="git revision for 'before'")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                    "healthz_under_load.md")
    args = ap.parse_args()
    clip = _clip(args.seconds)
    tmp = Path(tempfile.mkdtemp(prefix="healthz-load-"))
    before_tree = tmp / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before_tree),
                    args.before], check=True, capture_output=True)
    results = {}
    try:
        for label, checkout in ((f"before ({args.before})", before_tree), ("after", ROOT)):
            data = tmp / ("data-" + label.split()[0])
            data.mkdir()
            proc, base = _start(checkout, data)
            try:
                rss0 = _mem(proc.pid, "VmRSS")
                results[label] = _run_phase(base, args.n, clip)
                time.sleep(2.0)  # let the last answers go out before reading what is kept
                results[label]["mem"] = (rss0, _mem(proc.pid, "VmHWM"), _mem(proc.pid, "VmRSS"))
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            print(_row(label, results[label]), flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(before_tree)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    _write(args, results, len(clip))


def _mem(pid: int, field: str) -> float:
    """A /proc/<pid>/status memory field in MiB (VmRSS now, VmHWM the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run_phase(base: str, n: int, clip: bytes) -> dict:
    return asyncio.run(_load(base, n, clip))


def _write(args: argparse.Namespace, results: dict, clip_bytes: int) -> None:
    model = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines()
        if line.startswith("Model name")), platform.processor())
    load = Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else "?"
    lines = [
        "# /healthz under load", "",
        f"`{Path(sys.executable).name} benchmarks/healthz_under_load.py --n {args.n} "
        f"--seconds {args.seconds} --before {args.before}`", "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {model}, {os.cpu_count()} CPUs visible; load average (/proc/loadavg) at "
        f"the end: {load}",
        f"- load: {args.n} simultaneous `POST /v1/similar` uploads of a {args.seconds:.0f}-s WAV "
        f"clip ({clip_bytes / 1024:.0f} KiB) on an empty catalog, /healthz polled every 50 ms "
        "while they run; default settings (after: api.max_heavy 2, heavy_queue 4, "
        "queue_wait_s 10)", "",
        "| server | /healthz answers | p50 ms | p99 ms | max ms | failures | phase s |",
        "|---|---|---|---|---|---|---|",
        *(_row(label, res) for label, res in results.items()), "",
        "| server | upload status | count | median s | max s |", "|---|---|---|---|---|",
        *(row for label, res in results.items() for row in _upload_rows(label, res)), "",
        "| server | RSS before the load MiB | peak RSS MiB | RSS 2 s after MiB |",
        "|---|---|---|---|",
        *(f"| {label} | {a:.0f} | {b:.0f} | {c:.0f} |" for label, res in results.items()
          for a, b, c in [res["mem"]]), "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
