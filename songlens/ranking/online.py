"""The ranker as the service runs it: online updates, periodic snapshots, warm start.

Under one folder (``<data_dir>/ranker``):

* ``ranker-<version>.npz`` — :meth:`Ranker.save` snapshots (the newest ``keep`` are kept);
* ``state.json`` — which snapshot is current, ``seq`` (the last feedback-log sequence number
  the ranker has consumed) and the impressions still waiting for their outcome (the negative
  cache, with the features each was shown with). Written atomically after the snapshot, so it
  always names a complete one.

At start-up :meth:`OnlineRanker.open` loads both (a warm start); the caller then replays the log
after ``seq``. Time-of-day features are frozen online (see :mod:`songlens.ranking.ranker`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from songlens.coldstart.events import Event, ImpressionJoiner, LabeledImpression
from songlens.errors import ModelError
from songlens.files import write_atomic
from songlens.ranking.ranker import Ranker, RankerConfig

__all__ = ["OnlineRanker", "RankerInfo", "STATE_FORMAT"]

log = logging.getLogger(__name__)

STATE_FORMAT = 1
_FIELDS = ("user_id", "song_id", "ts", "played", "complete", "like", "negative", "context")


@dataclass(frozen=True)
class RankerInfo:
    """The ranker as served: its ``version`` (updates so far), the samples it has seen, the
    hashed features admitted, impressions still waiting for their outcome, the last feedback-log
    sequence number consumed and the current snapshot's file name."""

    version: int
    samples_seen: int
    features_admitted: int
    pending_impressions: int
    log_seq: int
    snapshot: str | None


class OnlineRanker:
    """A :class:`Ranker`, the :class:`ImpressionJoiner` that labels its samples, and their
    snapshots in ``folder``."""

    def __init__(self, folder: str | Path, *, config: RankerConfig, window_s: float,
                 keep: int = 3) -> None:
        self.folder = Path(folder)
        self.keep = keep
        self.ranker = Ranker(config)
        self.joiner = ImpressionJoiner(window_s=window_s)
        self.seq = 0
        self.pending_events = 0  # consumed since the last snapshot
        self.snapshot_path: Path | None = None

    # -- start-up --------------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, *, config: RankerConfig, window_s: float,
             keep: int = 3) -> OnlineRanker:
        """Warm start from ``folder/state.json`` and its snapshot (cold when there is none).

        ``config.score_weights`` is a serving choice and overrides the snapshot's; every other
        hyper-parameter is part of the trained state and comes from the snapshot.
        """
        self = cls(folder, config=config, window_s=window_s, keep=keep)
        state_path = self.folder / "state.json"
        if not state_path.exists():
            log.info("ranker: no snapshot in %s, cold start", self.folder)
            return self
        try:
            state = json.loads(state_path.read_text("utf-8"))
            if state.get("format") != STATE_FORMAT:
                raise ModelError(f"ranker state {str(state_path)!r} has format "
                                 f"{state.get('format')!r}; this build reads {STATE_FORMAT}")
            self.ranker = Ranker.load(self.folder / state["snapshot"])
            self.seq = int(state["seq"])
            self.joiner.watermark = float(state.get("watermark", float("-inf")))
            for s in state.get("open", []):
                lab = LabeledImpression(*(s[f] for f in _FIELDS))
                self.joiner.open[(lab.user_id, lab.song_id)] = lab
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read ranker state {str(state_path)!r}: {exc}; `songlens "
                             "train` rebuilds it from the feedback log") from exc
        self.ranker.config.score_weights = dict(config.score_weights)
        self.snapshot_path = self.folder / state["snapshot"]
        log.info("ranker: warm start from %s (v%d, %d samples seen, log seq %d, %d pending)",
                 self.snapshot_path.name, self.ranker.version, self.ranker.n_seen, self.seq,
                 len(self.joiner.open))
        return self

    # -- updates ---------------------------------------------------------------------------------
    def add(self, seq: int, ev: Event, features: Callable[[], dict[str, float]] | None) -> None:
        """Consume logged event ``seq``; ``features()`` is called when it opens a sample."""
        if features is not None:
            self.joiner.add(ev, features)
        self.seq = max(self.seq, seq)
        self.pending_events += 1

    def skip_to(self, seq: int) -> None:
        """Mark events up to ``seq`` consumed without learning from them (unknown songs)."""
        if seq > self.seq:
            self.seq = seq
            self.pending_events += 1

    def train_ready(self) -> int:
        """Online update on the samples whose outcome is final; returns how many."""
        ready = self.joiner.pop_ready()
        if ready:
            self.ranker.partial_fit([s.context for s in ready],
                                    [int(s.complete) for s in ready],
                                    [int(s.like) for s in ready])
        return len(ready)

    def fit_ready(self) -> int:
        """Batch (re)build on the final samples: what ``songlens train`` does."""
        ready = self.joiner.pop_ready()
        if ready:
            self.ranker.fit([s.context for s in ready], [int(s.complete) for s in ready],
                            [int(s.like) for s in ready])
        return len(ready)

    # -- snapshots -------------------------------------------------------------------------------
    def snapshot(self) -> Path:
        """Save the ranker and the state atomically; prune old snapshots."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.ranker.save(self.folder / f"ranker-{self.ranker.version:08d}.npz")
        state = {"format": STATE_FORMAT, "snapshot": path.name, "seq": self.seq,
                 "version": self.ranker.version, "n_seen": self.ranker.n_seen,
                 "saved_at": time.time(),
                 "open": [{f: getattr(s, f) for f in _FIELDS}
                          for s in self.joiner.open.values()]}
        if math.isfinite(self.joiner.watermark):
            state["watermark"] = self.joiner.watermark
        write_atomic(self.folder / "state.json",
                     json.dumps(state, ensure_ascii=False).encode("utf-8"))
        self.snapshot_path, self.pending_events = path, 0
        by_age = sorted(self.folder.glob("ranker-*.npz"), key=lambda f: f.stat().st_mtime)
        for old in by_age[:-self.keep]:
            if old != path:
                old.unlink(missing_ok=True)
        log.info("ranker snapshot v%d at log seq %d -> %s", self.ranker.version, self.seq,
                 path)
        return path

    def describe(self) -> RankerInfo:
        return RankerInfo(version=self.ranker.version, samples_seen=self.ranker.n_seen,
                          features_admitted=int(self.ranker.admitted.sum()),
                          pending_impressions=len(self.joiner.open), log_seq=self.seq,
                          snapshot=self.snapshot_path.name if self.snapshot_path else None)
