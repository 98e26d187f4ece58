"""Label attribution for the ranker: the wait window from measured delays, late-event corrections
and the day-level re-attribution pass.

After the live-streaming talk (seeds/netease-live-realtime-…, 4.2 样本归因):

* **negative cache** — an impression waits for its outcome; the wait window is set so that a
  given share (95 %) of the conversions arrive inside it: :func:`measure_delays` reads the
  impression → play delays from the log and reports that quantile;
* **late events correct their sample** — a play (or like, skip…) that arrives after its
  impression's window has closed does not become a second, organic sample: :class:`LabelJoiner`
  keeps final samples for ``late_s`` more and hands out a :class:`Correction` (old and new label
  of the *same* sample);
* **累计归因 (re-attribution)** — :func:`reattribute` joins a whole day's impressions again with
  everything logged since, with no window, and returns the samples whose label changed.

Negative feedback (early skip, dislike = "not interested", block) makes a sample ``negative``;
:func:`sample_weight` gives such samples more weight than a plain "shown, not played".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from songlens.coldstart.events import (
    PLAY_EVENTS,
    Event,
    ImpressionJoiner,
    LabeledImpression,
    attribute_labels,
)
from songlens.coldstart.events import fold_label as _fold
from songlens.units import DAY

__all__ = ["Correction", "DelayReport", "LabelJoiner", "measure_delays", "reattribute",
           "sample_key", "sample_weight", "PLAY_EVENTS"]

#: events that say an impression was played


def sample_key(s: LabeledImpression) -> tuple[str, str, float]:
    """A sample's identity: its (user, song, impression time)."""
    return (s.user_id, s.song_id, float(s.ts))


def sample_weight(s: LabeledImpression, *, negative_weight: float = 2.0) -> float:
    """Training weight: ``negative_weight`` for explicit negative feedback, else 1."""
    return negative_weight if s.negative and not s.complete else 1.0


@dataclass(frozen=True, slots=True)
class Correction:
    """A sample already handed out for training whose label a later event changed."""

    old: LabeledImpression
    new: LabeledImpression


def _labels(s: LabeledImpression) -> tuple[bool, bool, bool, bool]:
    return (s.played, s.complete, s.like, s.negative)


class LabelJoiner(ImpressionJoiner):
    """The negative cache of :class:`~songlens.coldstart.events.ImpressionJoiner`, plus late
    corrections.

    A sample opens at an impression (or, with ``include_organic``, at a play / complete with no
    impression before it and no recent sample to correct) and collects the same (user, song)'s
    events for ``window_s``; then it is final (:meth:`pop_ready`). For ``late_s`` after its
    impression a final sample can still be corrected: an event for its (user, song) with no newer
    impression changes its label, and :meth:`pop_corrections` hands out the change (at most
    ``max_final`` samples, the newest, are kept correctable). Event time
    drives everything, so a replay gives what the live stream gave.
    """

    def __init__(self, *, window_s: float = 3600.0, late_s: float = DAY,
                 include_organic: bool = True, max_final: int = 200_000) -> None:
        super().__init__(window_s=window_s, include_organic=include_organic)
        self.late_s = float(late_s)
        self.max_final = max_final
        self.final: dict[tuple[str, str], LabeledImpression] = {}  # handed out, correctable
        self.corrections: list[Correction] = []

    def _close(self, k: tuple[str, str]) -> None:
        self.closed.append(self.open.pop(k))

    def add(self, ev: Event, context: Any = None) -> None:
        """Fold one event in; ``context`` (or ``context()``) is kept with a sample it opens."""
        self.watermark = max(self.watermark, float(ev.ts))
        k = (ev.user_id, ev.song_id)
        cur = self.open.get(k)
        if cur is not None and ev.ts - cur.ts > self.window_s:
            self._close(k)
            cur = None
        if ev.event == "impression":
            if cur is not None:
                self._close(k)
            self.final.pop(k, None)  # a newer impression: later events are its own
            self.open[k] = LabeledImpression(ev.user_id, ev.song_id, ev.ts, False, False, False,
                                             False, context() if callable(context) else context)
            return
        if cur is None and self._late(k, ev):
            return
        if cur is None:
            if not self.include_organic or ev.event not in ("play", "complete"):
                return
            cur = LabeledImpression(ev.user_id, ev.song_id, ev.ts, False, False, False, False,
                                    context() if callable(context) else context)
        self.open[k] = _fold(cur, ev)

    def _late(self, k: tuple[str, str], ev: Event) -> bool:
        """Fold a late event into the (user, song)'s last closed or final sample, if any."""
        for i in range(len(self.closed) - 1, -1, -1):  # closed, not yet handed out
            s = self.closed[i]
            if (s.user_id, s.song_id) == k:
                if ev.ts - s.ts <= self.late_s:
                    self.closed[i] = _fold(s, ev)
                    return True
                break
        old = self.final.get(k)
        if old is None or ev.ts - old.ts > self.late_s:
            return False
        new = _fold(old, ev)
        if _labels(new) != _labels(old):
            self.corrections.append(Correction(old, new))
            self.final[k] = new
        return True

    def pop_ready(self) -> list[LabeledImpression]:
        """Final samples (closed, or past their window at the watermark), by impression time."""
        for k, s in list(self.open.items()):
            if self.watermark - s.ts > self.window_s:
                self._close(k)
        ready, self.closed = self.closed, []
        ready.sort(key=lambda s: s.ts)
        for s in ready:
            self.final[(s.user_id, s.song_id)] = s
        cut = self.watermark - self.late_s
        for k in [k for k, s in self.final.items() if s.ts < cut]:
            del self.final[k]
        for k in list(self.final)[:max(len(self.final) - self.max_final, 0)]:
            del self.final[k]  # memory bound: the oldest can no longer be corrected
        return ready

    def pop_corrections(self) -> list[Correction]:
        out, self.corrections = self.corrections, []
        return out


@dataclass(frozen=True)
class DelayReport:
    """Impression → first play delays measured on a log.

    ``impressions``: impressions seen; ``converted``: played within ``horizon_s`` (before the
    next impression of the same user and song); ``quantiles``: delay (s) at 50/90/95/99 %;
    ``window_s``: the wait window that covers ``quantile`` of the conversions (clipped to
    ``[floor_s, horizon_s]``); ``join_rate``: share of impressions joined with a play inside that
    window.
    """

    impressions: int
    converted: int
    quantiles: dict[str, float]
    quantile: float
    window_s: float
    join_rate: float


def measure_delays(events: Iterable[Event], *, quantile: float = 0.95, horizon_s: float = DAY,
                   floor_s: float = 60.0, default_s: float = 3600.0) -> DelayReport:
    """Measure conversion delays and the wait window at ``quantile`` (``default_s`` when the
    log holds no conversion)."""
    last: dict[tuple[str, str], float] = {}
    delays: list[float] = []
    n_imp = 0
    for ev in sorted(events, key=lambda e: e.ts):
        k = (ev.user_id, ev.song_id)
        if ev.event == "impression":
            last[k] = float(ev.ts)
            n_imp += 1
        elif ev.event in PLAY_EVENTS and k in last:
            d = float(ev.ts) - last.pop(k)
            if d <= horizon_s:
                delays.append(max(d, 0.0))
    arr = np.asarray(delays)
    qs = {f"p{int(q * 100)}": float(np.quantile(arr, q)) if len(arr) else float("nan")
          for q in (0.5, 0.9, 0.95, 0.99)}
    window = (float(np.clip(np.quantile(arr, quantile), floor_s, horizon_s)) if len(arr)
              else default_s)
    joined = int((arr <= window).sum()) if len(arr) else 0
    return DelayReport(impressions=n_imp, converted=len(arr), quantiles=qs, quantile=quantile,
                       window_s=window, join_rate=joined / n_imp if n_imp else float("nan"))


def reattribute(samples: Sequence[LabeledImpression], events: Iterable[Event], *,
                horizon_s: float = DAY) -> list[Correction]:
    """The day-level pass: join ``samples`` again with ``events`` (everything logged since the
    first of them), closing a sample only at the next impression of its (user, song) or after
    ``horizon_s``. Returns the samples whose label changed (old and new, context kept)."""
    fresh = {sample_key(s): s for s in attribute_labels(events, window_s=horizon_s,
                                                         include_organic=False)}
    out = []
    for s in samples:
        f = fresh.get(sample_key(s))
        if f is not None and _labels(f) != _labels(s):
            out.append(Correction(s, replace(s, played=f.played, complete=f.complete,
                                             like=f.like, negative=f.negative)))
    return out
