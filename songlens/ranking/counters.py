"""Real-time per-song counters: plays, completes and skips in the last hour and day.

The live-streaming talk's real-time features: how a song is doing right now, not since it was
ingested. :meth:`RecentCounts.snapshot` answers "as of ``ts``" from the events before ``ts``
only, so a training sample's counters are the ones its impression was served with (frozen at
serving time, as in training) and never include its own outcome. Events may arrive slightly out
of order; each song keeps its events sorted and drops those older than ``keep_s`` before the
newest event seen.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping

from songlens.coldstart.events import Event, signal_weight

__all__ = ["RecentCounts", "WINDOWS", "COUNTED"]

#: window name → seconds
WINDOWS: dict[str, float] = {"1h": 3600.0, "1d": 86_400.0}
#: what is counted: plays started, complete plays, early (negative) skips
COUNTED = ("play", "complete", "skip")


class RecentCounts:
    """Per-song event times of the last ``keep_s`` seconds (in memory)."""

    def __init__(self, *, keep_s: float = 2 * 86_400.0) -> None:
        self.keep_s = keep_s
        self._times: dict[str, dict[str, list[float]]] = {}
        self.watermark = float("-inf")
        self._n_added = 0

    def add(self, ev: Event) -> None:
        kind = ev.event
        if kind == "skip" and signal_weight(ev) >= 0:  # a late skip is not a skip
            return
        if kind not in COUNTED:
            return
        times = self._times.setdefault(ev.song_id, {}).setdefault(kind, [])
        bisect.insort(times, float(ev.ts))
        self.watermark = max(self.watermark, float(ev.ts))
        self._n_added += 1
        if self._n_added % 10_000 == 0:
            self.prune()

    def prune(self) -> None:
        """Drop events older than ``keep_s`` before the watermark."""
        cut = self.watermark - self.keep_s
        for sid in list(self._times):
            by_kind = self._times[sid]
            for kind in list(by_kind):
                times = by_kind[kind]
                del times[:bisect.bisect_left(times, cut)]
                if not times:
                    del by_kind[kind]
            if not by_kind:
                del self._times[sid]

    def snapshot(self, song_id: str, ts: float) -> dict[str, dict[str, int]]:
        """``{window: {event: n}}`` over events in ``[ts - window, ts)``."""
        by_kind = self._times.get(song_id) or {}
        out: dict[str, dict[str, int]] = {}
        for name, w in WINDOWS.items():
            out[name] = {}
            for kind in COUNTED:
                times = by_kind.get(kind) or []
                hi = bisect.bisect_left(times, ts)
                out[name][kind] = hi - bisect.bisect_left(times, ts - w)
        return out

    def snapshots(self, song_ids: list[str], ts: float) -> Mapping[str, dict[str, dict[str, int]]]:
        return {s: self.snapshot(s, ts) for s in song_ids}
