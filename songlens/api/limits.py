"""What the server accepts at once: body sizes, heavy requests in flight, and a last line of
defence that answers every failure in the JSON error contract.

Three pure ASGI middlewares (they run before FastAPI reads a body, so a refused request costs
no upload, no thread and no parsing) and :class:`HeavyLimiter`, the admission control of heavy
requests, which the app creates in its lifespan and keeps in ``app.state.heavy``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.exceptions import HTTPException

from songlens.api.errors import error_body

__all__ = ["BodySizeLimit", "HeavyGate", "HeavyLimiter", "CatchAll", "TooBusy",
           "body_limits"]

log = logging.getLogger(__name__)

#: (method, path) of the requests that decode audio and run the audio model; POST /v1/similar
#: only with a multipart body (a clip; JSON text and example queries are light)
HEAVY_ROUTES = {("POST", "/v1/songs"): None, ("POST", "/v1/similar"): b"multipart/"}
#: the routes that take an audio upload: the heavy ones, and POST /v1/ingest-jobs (which takes
#: its heavy slot when its job runs, after the request: songlens.api.jobs)
UPLOAD_ROUTES = {*HEAVY_ROUTES, ("POST", "/v1/ingest-jobs")}


def is_upload(scope: Any) -> bool:
    """Whether a request is a multipart upload to a route that takes audio
    (:data:`UPLOAD_ROUTES`)."""
    if (scope.get("method"), scope.get("path", "").rstrip("/")) not in UPLOAD_ROUTES:
        return False
    return (_header(scope, b"content-type") or b"").lower().startswith(b"multipart/")


def body_limits(settings: Any) -> tuple[int, int]:
    """(multipart limit, other-body limit) in bytes for these settings: a multipart body holds
    the audio and the metadata part; anything else (JSON) is small, and parsed on the event loop
    by FastAPI, so it is bounded far lower than the audio."""
    mib = 2**20
    multipart = int(settings.audio.max_upload_mb * mib + settings.api.max_metadata_mb * mib + mib)
    return multipart, int(settings.api.max_json_mb * mib)


def _header(scope: Any, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v
    return None


async def _send_json(send: Any, status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": raw})


class _TrackedSend:
    """``send`` that remembers whether the response has started (after that, an error can no
    longer be answered with a response of its own)."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class _TooLarge(HTTPException):
    """Raised from inside ``receive``; an HTTPException so FastAPI's body parsing lets it through
    to the error handlers (413) instead of wrapping it as a 400."""


class BodySizeLimit:
    """413 ``payload_too_large`` when Content-Length or the streamed body exceeds the limit:
    ``max_bytes`` for a multipart body, ``max_json_bytes`` for any other."""

    def __init__(self, app: Any, *, max_bytes: int, max_json_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_bytes = max_bytes if max_json_bytes is None else max_json_bytes

    @staticmethod
    def _message(limit: int, what: str) -> str:
        size = f"{limit / 2**20:.0f} MiB" if limit >= 2**20 else f"{limit // 1024} KiB"
        return f"{what} exceeds the limit of {size}"

    async def _reject(self, send: Any, limit: int, what: str) -> None:
        await _send_json(send, 413, error_body("payload_too_large", self._message(limit, what)),
                         [(b"connection", b"close")])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the audio-sized limit is for the routes that take an upload, and only with a
        # multipart body: anything else, whatever its Content-Type says, gets the small one
        if is_upload(scope):
            limit, what = self.max_bytes, "request body"
        else:
            limit, what = self.max_json_bytes, "a non-multipart (JSON) request body"
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(send, limit, what)
                return
        seen = 0
        tracked = _TrackedSend(send)

        async def counted_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(413, self._message(limit, what))
            return message

        try:
            await self.app(scope, counted_receive, tracked)
        except _TooLarge:
            if not tracked.started:
                await self._reject(send, limit, what)


class TooBusy(Exception):
    """No heavy slot within the wait (or the queue is full)."""


@dataclass
class HeavyStats:
    admitted: int = 0
    refused: int = 0


class HeavyLimiter:
    """At most ``max_active`` heavy requests run at once; up to ``max_queue`` more wait (on the
    event loop: no thread, no body read yet) at most ``wait_s`` for a slot; the rest are refused
    at once. Waiters are served first come, first served.

    Bounding heavy work here, before the route runs, also bounds the threads it takes from the
    shared threadpool to ``max_active``: light requests (``/healthz``, reads) always find one.
    """

    def __init__(self, *, max_active: int, max_queue: int, wait_s: float,
                 retry_after_s: int) -> None:
        if max_active < 1 or max_queue < 0 or wait_s < 0:
            raise ValueError("max_active >= 1, max_queue >= 0 and wait_s >= 0")
        self.max_active, self.max_queue = max_active, max_queue
        self.wait_s, self.retry_after_s = wait_s, retry_after_s
        self.active = 0
        self._waiters: list[asyncio.Future[None]] = []
        self.stats = HeavyStats()

    @classmethod
    def from_settings(cls, settings: Any) -> HeavyLimiter:
        api = settings.api
        return cls(max_active=api.max_heavy, max_queue=api.heavy_queue, wait_s=api.queue_wait_s,
                   retry_after_s=api.retry_after_s)

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting at most ``wait_s``; raise :class:`TooBusy` otherwise."""
        if self.active < self.max_active and not self._waiters:
            self.active += 1
            self.stats.admitted += 1
            return
        if len(self._waiters) >= self.max_queue or self.wait_s <= 0:
            self.stats.refused += 1
            raise TooBusy
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            with anyio.fail_after(self.wait_s):
                await fut
        except TimeoutError:
            self._drop(fut)
            self.stats.refused += 1
            raise TooBusy from None
        except BaseException:
            self._drop(fut)
            raise
        self.stats.admitted += 1  # the slot was handed over by release(): active unchanged

    def _drop(self, fut: asyncio.Future[None]) -> None:
        if fut in self._waiters:
            self._waiters.remove(fut)
        elif fut.done() and not fut.cancelled():
            self.release()  # handed a slot just as it gave up: pass it on

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.pop(0)
            if not fut.done():
                fut.set_result(None)  # the slot passes to the first waiter
                return
        self.active -= 1


class HeavyGate:
    """Admits heavy requests (:data:`HEAVY_ROUTES`) through ``app.state.heavy`` (a
    :class:`HeavyLimiter`) before the route reads the body; a refused request is answered
    429 ``too_busy`` with ``Retry-After``. Light requests pass untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @staticmethod
    def _heavy(scope: Any) -> bool:
        key = (scope.get("method"), scope.get("path", "").rstrip("/"))
        if key not in HEAVY_ROUTES:
            return False
        ctype = HEAVY_ROUTES[key]
        return ctype is None or (_header(scope, b"content-type") or b"").lower().startswith(ctype)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limiter: HeavyLimiter | None = None
        if scope["type"] == "http" and self._heavy(scope):
            state = getattr(scope.get("app"), "state", None)
            limiter = getattr(state, "heavy", None)
        if limiter is None:
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        try:
            await limiter.acquire()
        except TooBusy:
            log.warning("too busy: refused %s %s after %.2fs (%d running, %d waiting)",
                        scope["method"], scope["path"], time.perf_counter() - t0,
                        limiter.active, limiter.waiting)
            retry = limiter.retry_after_s
            await _send_json(send, 429, error_body(
                "too_busy", f"the server is busy with other uploads ({limiter.max_active} "
                f"running, {limiter.max_queue} waiting); retry after {retry} s",
                {"retry_after_s": retry}), [(b"retry-after", str(retry).encode())])
            return
        try:
            await self.app(scope, receive, send)
        finally:
            limiter.release()


class CatchAll:
    """Answers anything that escapes the app (a ``BaseException`` that is not an
    ``Exception``, such as pyo3's ``PanicException`` from a native library) with 500
    ``internal_error`` in the JSON contract, instead of the server's plain-text page. Cancellation
    and interpreter exits pass through. ``Exception``\\ s are left to the app's handler."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception:
            raise
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit
                          | asyncio.CancelledError | anyio.get_cancelled_exc_class()):
                raise
            log.error("unhandled %s on %s", type(exc).__name__, scope.get("path"),
                      exc_info=exc)
            if not tracked.started:
                await _send_json(send, 500, error_body(
                    "internal_error", "internal error; see the server log"))
