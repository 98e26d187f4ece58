"""Token buckets, one per caller (API key id or client IP), in memory and thread-safe."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``per_minute`` requests a minute on average, ``burst`` at once. ``per_minute`` 0 turns
    limiting off.

    Each caller's bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a
    second; a request takes one. :meth:`take` answers 0 when the request may go ahead, else the
    whole seconds to wait before one token is back (the ``Retry-After`` value).
    """

    #: above this many buckets, full ones (callers idle long enough to refill) are dropped
    MAX_BUCKETS = 10_000

    def __init__(self, *, per_minute: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller → (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, caller: str) -> int:
        if not self.enabled:
            return 0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(caller, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                if len(self._buckets) > self.MAX_BUCKETS:
                    self._prune(now)
                return 0
            self._buckets[caller] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _prune(self, now: float) -> None:
        full = [c for c, (t, at) in self._buckets.items()
                if t + (now - at) * self.rate >= self.burst]
        for c in full:
            del self._buckets[c]
