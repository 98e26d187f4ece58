"""What the request observer (request id, access log line, request metrics) costs per request.

    .venv/bin/python benchmarks/request_observer.py [--n 20000]

Calls a minimal ASGI app (one route answering a short text) directly, with no server and no
network, ``n`` times bare and ``n`` times wrapped in
:class:`songlens.api.request_log.RequestObserver` (the access line goes to a logger at INFO
with a handler that discards it, so formatting is paid, I/O is not), alternating rounds, and
prints µs per request for each and the difference. The reference is the bare app in the same
run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.applications import Starlette  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from songlens.api.metrics import AppMetrics  # noqa: E402
from songlens.api.request_log import RequestObserver  # noqa: E402


def _app() -> Starlette:
    async def item(request):
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/v1/songs/{song_id}", item)])


async def _run(app, n: int) -> float:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": "/v1/songs/abc", "raw_path": b"/v1/songs/abc",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8000), "headers": [(b"host", b"localhost")]}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    t0 = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    access = logging.getLogger("songlens.access")
    access.setLevel(logging.INFO)
    access.addHandler(logging.NullHandler())
    access.propagate = False
    bare_app = _app()
    observed_app = _app()
    observed_app.add_middleware(RequestObserver, metrics=AppMetrics())
    bare, observed = [], []
    for _ in range(args.rounds):
        bare.append(asyncio.run(_run(bare_app, args.n)))
        observed.append(asyncio.run(_run(observed_app, args.n)))
    b, o = statistics.median(bare), statistics.median(observed)
    print(f"bare app: {b:.1f} µs/request; with RequestObserver: {o:.1f} µs/request; "
          f"difference {o - b:.1f} µs ({o / b:.2f}×); medians of {args.rounds} rounds of "
          f"{args.n} requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
