"""What the simulator's clients do to feedback on its way in: late plays and a bad stretch.

:class:`~songlens.coldstart.simulator.Simulator` plays a shown song within a second of its
impression. Real listeners come back to a feed later (the live-streaming talk's 息屏: the screen
went off), so :func:`delay_outcomes` moves the outcome of a share of impressions later by a
log-normal delay — some beyond an hour, past a fixed wait window. :func:`bad_stretch` is a client
bug for a while: the outcomes of impressions are inverted (played ones reported unplayed,
unplayed ones reported complete), the kind of stretch a quality gate must refuse.

Both are pure functions of the events and a seeded generator; ``truth`` keeps what really
happened for evaluation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from songlens.coldstart.events import Event

__all__ = ["DelayConfig", "delay_outcomes", "bad_stretch"]


@dataclass
class DelayConfig:
    """A share ``late_share`` of played impressions is played ``exp(N(log(median_s), sigma))``
    seconds later (capped at ``max_s``)."""

    late_share: float = 0.3
    median_s: float = 900.0
    sigma: float = 1.2
    max_s: float = 20 * 3600.0


def _after_impression(events: Sequence[Event], within_s: float = 600.0
                      ) -> dict[int, list[int]]:
    """Index of each impression → indices of the same (user, song)'s events in the next
    ``within_s`` before its next impression (its outcome; the events are in time order)."""
    last: dict[tuple[str, str], int] = {}
    out: dict[int, list[int]] = defaultdict(list)
    for i, ev in enumerate(events):
        k = (ev.user_id, ev.song_id)
        if ev.event == "impression":
            last[k] = i
            out[i] = []
        elif k in last and ev.ts - events[last[k]].ts <= within_s:
            out[last[k]].append(i)
    return out


def _moved(ev: Event, dt: float) -> Event:
    return Event.model_construct(user_id=ev.user_id, song_id=ev.song_id, event=ev.event,
                                 ts=float(ev.ts) + dt, play_ms=ev.play_ms, event_id=ev.event_id)


def delay_outcomes(events: Sequence[Event], rng: np.random.Generator,
                   config: DelayConfig | None = None) -> list[Event]:
    """``events`` (time order) with the outcomes of some impressions moved later; sorted."""
    cfg = config or DelayConfig()
    evs = list(events)
    for follow in _after_impression(evs).values():
        if not follow or rng.random() >= cfg.late_share:
            continue
        dt = float(min(np.exp(rng.normal(np.log(cfg.median_s), cfg.sigma)), cfg.max_s))
        for j in follow:
            evs[j] = _moved(evs[j], dt)
    return sorted(evs, key=lambda e: e.ts)


def bad_stretch(events: Sequence[Event], start: float, end: float) -> list[Event]:
    """Invert the outcome of every impression in ``[start, end)``: played → nothing reported,
    not played → reported ``complete`` 60 s later. Organic plays are left alone."""
    evs = list(events)
    drop: set[int] = set()
    add: list[Event] = []
    for i, follow in _after_impression(evs).items():
        ev = evs[i]
        if not start <= ev.ts < end:
            continue
        if follow:
            drop.update(follow)
        else:
            add.append(Event.model_construct(user_id=ev.user_id, song_id=ev.song_id,
                                             event="complete", ts=float(ev.ts) + 60.0,
                                             play_ms=200_000, event_id=None))
    out = [e for j, e in enumerate(evs) if j not in drop] + add
    return sorted(out, key=lambda e: e.ts)
