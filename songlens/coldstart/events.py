"""Listening feedback events: vocabulary, validation, signal weights and label attribution.

An event is ``{user_id, song_id, event, ts, play_ms?, event_id?, request_id?, tz_offset_min?}``
(``request_id``: the rank request that served an impression; ``tz_offset_min``: the listener's
UTC offset, for local-time features). The vocabulary follows the
NetEase talk: positive signals are a full play (``complete``), like (红心), collect, share,
download and a ``play`` that lasted long enough; negative signals are an early ``skip`` (切歌),
``dislike`` (不感兴趣), ``block`` (拉黑) and an ``impression`` that was not followed by a play
(曝光未点击). Whether an impression was played is only known later, so :func:`signal_weight` gives
an impression no weight on its own and :func:`attribute_labels` joins impressions with what
followed them (the "negative cache" attribution of the live-streaming talk).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from songlens.units import DAY

__all__ = [
    "EVENT_TYPES",
    "POSITIVE_EVENTS",
    "NEGATIVE_EVENTS",
    "DEFAULT_SIGNAL_CONFIG",
    "Event",
    "EventProblem",
    "LabeledImpression",
    "ImpressionJoiner",
    "PLAY_EVENTS",
    "fold_label",
    "event_key",
    "signal_weight",
    "interaction_count",
    "validate_batch",
    "attribute_labels",
    "impossible_for_song",
    "local_time",
]

logger = logging.getLogger(__name__)

EventType = Literal["play", "complete", "like", "collect", "share", "download",
                    "skip", "dislike", "block", "impression"]
EVENT_TYPES: tuple[str, ...] = ("play", "complete", "like", "collect", "share", "download",
                                "skip", "dislike", "block", "impression")
POSITIVE_EVENTS: frozenset[str] = frozenset({"complete", "like", "collect", "share", "download"})
NEGATIVE_EVENTS: frozenset[str] = frozenset({"skip", "dislike", "block"})

#: Signal weights per event (signed; used by profiles and as sample weights), plus thresholds.
#: ``play`` counts only when ``play_ms >= play_positive_ms``; ``skip`` is negative only when early
#: (``play_ms < early_skip_ms`` or unknown); ``impression`` applies to impressions not played
#: (see :func:`attribute_labels`). ``max_future_s`` bounds clock skew on ``ts``.
DEFAULT_SIGNAL_CONFIG: dict[str, Any] = {
    "weights": {
        "complete": 1.0,
        "like": 2.0,
        "collect": 1.5,
        "share": 1.5,
        "download": 1.5,
        "play": 0.3,
        "skip": -0.6,
        "dislike": -1.5,
        "block": -3.0,
        "impression": -0.05,
    },
    "play_positive_ms": 30_000,
    "early_skip_ms": 30_000,
    "max_future_s": DAY,
    "max_play_ms": 6 * 3600 * 1000,
}

_ID_MAX = 256


class Event(BaseModel):
    """One validated feedback event (``ts`` in unix seconds, ``play_ms`` in milliseconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=_ID_MAX)
    song_id: str = Field(min_length=1, max_length=_ID_MAX)
    event: EventType
    ts: float = Field(gt=0)
    play_ms: int | None = Field(default=None, ge=0)
    event_id: str | None = Field(default=None, min_length=1, max_length=_ID_MAX)
    request_id: str | None = Field(default=None, min_length=1, max_length=64, description=(
        "the /v1/rank request that served this impression: training reads the features "
        "served under it"))
    tz_offset_min: int | None = Field(default=None, ge=-840, le=840, description=(
        "the listener's UTC offset in minutes (local time = ts + offset)"))

    @field_validator("ts")
    @classmethod
    def _finite_ts(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError(f"ts must be finite unix seconds, got {v!r}")
        return v

    @property
    def key(self) -> str:
        """Idempotency key: the client's ``event_id`` or a hash of (user, song, event, ts)."""
        return event_key(self)


def event_key(ev: Event) -> str:
    """``"id:<event_id>"`` when the client sent one, else ``"h:<sha1(user|song|event|ts)>"``."""
    if ev.event_id:
        return f"id:{ev.event_id}"
    raw = f"{ev.user_id}\x1f{ev.song_id}\x1f{ev.event}\x1f{ev.ts!r}".encode()
    return "h:" + hashlib.sha1(raw).hexdigest()


def signal_weight(ev: Event, config: dict[str, Any] | None = None) -> float:
    """Signed strength of one event as a taste signal (0 for neutral events).

    A ``play`` shorter than ``play_positive_ms`` and a late ``skip`` are neutral; an
    ``impression`` is neutral here (only an impression *not played* is negative, which needs
    the later events: :func:`attribute_labels` for the ranker; a profile applies the weight at
    once and takes it back when the song is played in time, ``UserProfile.update``).
    """
    cfg = config or DEFAULT_SIGNAL_CONFIG
    w = float(cfg["weights"].get(ev.event, 0.0))
    if ev.event == "play":
        return w if (ev.play_ms or 0) >= cfg["play_positive_ms"] else 0.0
    if ev.event == "skip":
        return w if ev.play_ms is None or ev.play_ms < cfg["early_skip_ms"] else 0.0
    if ev.event == "impression":
        return 0.0
    return w


def local_time(ts: float, tz_offset_min: int | None) -> tuple[int, int] | None:
    """The listener's local ``(hour, weekday)`` at ``ts`` (None when the offset is unknown)."""
    if tz_offset_min is None:
        return None
    tm = time.gmtime(float(ts) + 60.0 * tz_offset_min)
    return tm.tm_hour, tm.tm_wday


def interaction_count(counts: Mapping[str, int]) -> int:
    """Interactions among per-event-type counts (``{event: n}``): every event but impressions
    (being shown a song is not listening to it)."""
    return sum(n for ev, n in counts.items() if ev != "impression")


@dataclass(frozen=True, slots=True)
class EventProblem:
    """Why one event of a client batch was rejected, or kept but changed nothing: its ``index``
    in the batch, a stable ``code`` and a human ``reason``."""

    index: int
    code: str
    reason: str


def _reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validate_batch(raw: Sequence[Any], *, now: float | None = None,
                   config: dict[str, Any] | None = None
                   ) -> tuple[list[Event], list[EventProblem]]:
    """Split a client batch into valid events and rejections.

    Parameters
    ----------
    raw : sequence of dict
        Events as the client sent them.
    now : float, optional
        Current unix time (for the ``ts`` future bound); defaults to ``time.time()``.

    Returns
    -------
    good : list of Event
        Valid events, in input order.
    rejected : list of EventProblem
        One for each bad item (codes: ``not_an_object``, ``invalid_event``, ``ts_in_future``,
        ``play_ms_too_long``); the rest of the batch is kept.
    """
    cfg = config or DEFAULT_SIGNAL_CONFIG
    now = time.time() if now is None else now
    good: list[Event] = []
    rejected: list[EventProblem] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            rejected.append(EventProblem(i, "not_an_object",
                                         f"expected an object, got {type(item).__name__}"))
            continue
        try:
            ev = Event.model_validate(item)
        except ValidationError as exc:
            rejected.append(EventProblem(i, "invalid_event", _reason(exc)))
            continue
        if ev.ts > now + cfg["max_future_s"]:
            rejected.append(EventProblem(i, "ts_in_future", f"ts: {ev.ts!r} is in the future "
                                         f"(now {now:.0f}, allowed skew "
                                         f"{cfg['max_future_s']:.0f} s)"))
            continue
        if ev.play_ms is not None and ev.play_ms > cfg["max_play_ms"]:
            rejected.append(EventProblem(i, "play_ms_too_long", f"play_ms: {ev.play_ms} "
                                         f"exceeds {cfg['max_play_ms']} ms"))
            continue
        good.append(ev)
    if rejected:
        logger.info("validate_batch: %d good, %d rejected", len(good), len(rejected))
    return good, rejected


def impossible_for_song(ev: Event, song_payload: Mapping[str, Any] | None, *,
                        skew_s: float) -> EventProblem | None:
    """Why ``ev`` cannot be true of the song as the catalog has it, or None when it could be.

    The only impossibility judged here: an event more than ``skew_s`` seconds (clock skew, a
    client's late upload) before the song entered the catalog (``ingested_at``). A song the
    catalog does not hold is the caller's ``unknown_song``. The ``index`` of the problem is -1;
    the caller knows where the event sat in its batch.
    """
    if not song_payload:
        return None
    ing = song_payload.get("ingested_at")
    if not isinstance(ing, int | float) or not math.isfinite(ing):
        return None
    if ev.ts < float(ing) - skew_s:
        return EventProblem(-1, "before_song_existed",
                            f"ts {ev.ts:.0f} is {(float(ing) - ev.ts) / DAY:.1f} days before "
                            f"song {ev.song_id!r} entered the catalog (ingested_at "
                            f"{float(ing):.0f}, allowed skew {skew_s:.0f} s): the event is "
                            "logged but changes no profile and trains nothing")
    return None


@dataclass(frozen=True, slots=True)
class LabeledImpression:
    """One training sample for the ranker: a (user, song) exposure and what followed it.

    ``context`` is what the caller kept from the moment the sample opened (the service keeps the
    ranker features as of the impression, so a label never leaks into its own features).
    """

    user_id: str
    song_id: str
    ts: float
    played: bool
    complete: bool
    like: bool
    negative: bool
    context: Any = None


#: events that say an impression was played
PLAY_EVENTS = frozenset({"play", "complete", "like", "collect", "share", "download", "skip"})


def fold_label(cur: LabeledImpression, ev: Event) -> LabeledImpression:
    """``cur`` with the labels ``ev`` (an event of the same user and song) adds."""
    return replace(
        cur, played=cur.played or ev.event in PLAY_EVENTS,
        complete=cur.complete or ev.event == "complete",
        like=cur.like or ev.event in ("like", "collect"),
        negative=cur.negative or ev.event in ("dislike", "block") or (
            ev.event == "skip" and signal_weight(ev) < 0))


class ImpressionJoiner:
    """:func:`attribute_labels` one event at a time: the negative cache, for a stream.

    A sample opens at an impression (or, with ``include_organic``, at a play / complete with no
    impression before it) and collects the same (user, song)'s events for ``window_s``.
    :meth:`pop_ready` hands out the samples that are final: closed by a later impression, or
    older than ``window_s`` before the watermark (the newest event time seen). Event time, not
    wall-clock time, drives it, so replaying a log gives the samples the live stream gave.
    """

    def __init__(self, *, window_s: float = 3600.0, include_organic: bool = True) -> None:
        self.window_s, self.include_organic = float(window_s), include_organic
        self.open: dict[tuple[str, str], LabeledImpression] = {}
        self.closed: list[LabeledImpression] = []
        self.watermark = -math.inf

    def __len__(self) -> int:
        return len(self.open) + len(self.closed)

    def add(self, ev: Event, context: Any = None) -> None:
        """Fold one event in. ``context`` (or ``context()`` when callable, called only when
        ``ev`` opens a sample) is kept with the sample it opens."""
        self.watermark = max(self.watermark, float(ev.ts))
        k = (ev.user_id, ev.song_id)
        cur = self.open.get(k)
        if cur is not None and ev.ts - cur.ts > self.window_s:
            self.closed.append(self.open.pop(k))
            cur = None
        if ev.event == "impression":
            if cur is not None:
                self.closed.append(self.open.pop(k))
            self.open[k] = LabeledImpression(ev.user_id, ev.song_id, ev.ts, False, False, False,
                                             False, context() if callable(context) else context)
            return
        if cur is None:
            if not self.include_organic or ev.event not in ("play", "complete"):
                return
            cur = LabeledImpression(ev.user_id, ev.song_id, ev.ts, False, False, False, False,
                                    context() if callable(context) else context)
        self.open[k] = fold_label(cur, ev)

    def pop_ready(self) -> list[LabeledImpression]:
        """Final samples (closed, or past their window at the watermark), by impression time."""
        ready, self.closed = self.closed, []
        for k, s in list(self.open.items()):
            if self.watermark - s.ts > self.window_s:
                ready.append(self.open.pop(k))
        ready.sort(key=lambda s: s.ts)
        return ready

    def flush(self) -> list[LabeledImpression]:
        """Every sample, final or not (the end of a batch job), by impression time."""
        out, self.closed = self.closed + list(self.open.values()), []
        self.open.clear()
        out.sort(key=lambda s: s.ts)
        return out


def attribute_labels(events: Iterable[Event], *, window_s: float = 3600.0,
                     include_organic: bool = True) -> list[LabeledImpression]:
    """Join each impression with the events that followed it for the same (user, song).

    Every impression is held until ``window_s`` has passed (the negative cache); a ``play`` or
    ``complete`` inside the window marks it played, ``complete`` / ``like`` (or ``collect``)
    set the two ranker targets, an early ``skip`` / ``dislike`` / ``block`` marks it negative.
    Plays with no impression before them (search, a shared link) become samples too when
    ``include_organic``. Events need not be sorted. :class:`ImpressionJoiner` does the same
    incrementally.

    Returns
    -------
    list of LabeledImpression
        Sorted by impression time.
    """
    joiner = ImpressionJoiner(window_s=window_s, include_organic=include_organic)
    for ev in sorted(events, key=lambda e: e.ts):
        joiner.add(ev)
    return joiner.flush()
