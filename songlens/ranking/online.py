"""The ranker as the service runs it: online updates, periodic snapshots, warm start.

Under one folder (``<data_dir>/ranker``):

* ``ranker-<id>.npz`` and ``registry.json`` — the :class:`SnapshotRegistry`: every model
  trained, its held-out figures, which one serves (the newest ``keep`` files are kept);
* ``state.json`` — which snapshot is current, ``seq`` (the last feedback-log sequence number
  the ranker has consumed) and the impressions still waiting for their outcome (the negative
  cache, with the features each was shown with). Written atomically after the snapshot, so it
  always names a complete one.

At start-up :meth:`OnlineRanker.open` loads both (a warm start); the caller then replays the log
after ``seq``. Time-of-day features are frozen online (see :mod:`songlens.ranking.ranker`).

Samples are labelled by a :class:`~songlens.ranking.labels.LabelJoiner` (late plays correct
their sample). ``cadence`` None learns online, one FTRL step per final sample; with a
:class:`CadenceConfig` final samples wait for :meth:`OnlineRanker.increment` (a timer) and the
batch fit, both gated (:class:`~songlens.ranking.cadence.CadenceTrainer`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songlens.coldstart.events import Event, LabeledImpression
from songlens.errors import ModelError
from songlens.files import write_atomic
from songlens.ranking.cadence import CadenceConfig, CadenceTrainer
from songlens.ranking.labels import Correction, LabelJoiner, sample_weight
from songlens.ranking.ranker import Ranker, RankerConfig
from songlens.ranking.snapshots import SnapshotRegistry
from songlens.units import DAY

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
    training: str = "online"
    serving_id: str | None = None


class OnlineRanker:
    """A :class:`Ranker`, the :class:`ImpressionJoiner` that labels its samples, and their
    snapshots in ``folder``."""

    def __init__(self, folder: str | Path, *, config: RankerConfig, window_s: float,
                 keep: int = 3, late_s: float = DAY, cadence: CadenceConfig | None = None
                 ) -> None:
        self.folder = Path(folder)
        self.keep = keep
        self.ranker = Ranker(config)
        self.joiner = LabelJoiner(window_s=window_s, late_s=late_s)
        self.registry = SnapshotRegistry(self.folder, keep=keep)
        self.trainer = (None if cadence is None else
                        CadenceTrainer(config, cadence, registry=self.registry))
        self.seq = 0
        self.pending_events = 0  # consumed since the last snapshot
        self.snapshot_path: Path | None = None

    # -- start-up --------------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | Path, *, config: RankerConfig, window_s: float,
             keep: int = 3, late_s: float = DAY, cadence: CadenceConfig | None = None
             ) -> OnlineRanker:
        """Warm start from ``folder/state.json`` and its snapshot (cold when there is none).

        ``config.score_weights`` is a serving choice and overrides the snapshot's; every other
        hyper-parameter is part of the trained state and comes from the snapshot.
        """
        self = cls(folder, config=config, window_s=window_s, keep=keep, late_s=late_s,
                   cadence=cadence)
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
        if self.trainer is not None:
            self.trainer.serving = self.ranker
            self.trainer.pending = [LabeledImpression(*(s[f] for f in _FIELDS))
                                    for s in state.get("pending", [])]
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
        """Take the samples whose outcome is final, and the corrections of earlier ones: online,
        one update each now; with a cadence, into the next increment. Returns how many."""
        ready, fixes = self.joiner.pop_ready(), self.joiner.pop_corrections()
        if self.trainer is not None:
            self.trainer.add(ready, fixes)
            return len(ready)
        if fixes:
            self._correct(fixes)
        if ready:
            self.ranker.partial_fit([s.context for s in ready],
                                    [int(s.complete) for s in ready],
                                    [int(s.like) for s in ready],
                                    sample_weight=[sample_weight(s, negative_weight=1.0)
                                                   for s in ready])
        return len(ready)

    def _correct(self, fixes: list[Correction]) -> None:
        """Take each corrected sample's old step back and train its new label."""
        for sign, side in ((-1.0, "old"), (1.0, "new")):
            ss = [getattr(c, side) for c in fixes]
            self.ranker.partial_fit([s.context for s in ss], [int(s.complete) for s in ss],
                                    [int(s.like) for s in ss], sample_weight=[sign] * len(ss),
                                    count=False)

    def increment(self) -> dict[str, Any]:
        """A gated mini-batch increment (cadence only); the new model serves if it passes."""
        if self.trainer is None:
            return {"reason": "online training: no increments"}
        ok, info = self.trainer.increment()
        if ok:
            self._serve(self.trainer.serving)
        return {"accepted": ok, **info}

    def offer(self, candidate: Ranker, **trained: Any) -> dict[str, Any]:
        """Gate a batch-fit candidate (cadence only)."""
        if self.trainer is None:
            return {"reason": "online training: no batch candidates"}
        ok, info = self.trainer.offer(candidate, trained=trained)
        if ok:
            self._serve(self.trainer.serving)
        return {"accepted": ok, **info}

    def rollback(self, snapshot_id: str) -> RankerInfo:
        """Serve an older snapshot (the log position stays: what came since is not replayed)."""
        ranker = self.registry.serve(snapshot_id)
        ranker.config.score_weights = dict(self.ranker.config.score_weights)
        if self.trainer is not None:
            self.trainer.serving = ranker
            self.trainer.corrections = []
        self._serve(ranker)
        return self.describe()

    def _serve(self, ranker: Ranker | None) -> None:
        if ranker is None:
            return
        self.ranker = ranker
        sid = self.registry.serving
        path = self.registry.path(sid) if sid else None
        if path is not None:
            self._write_state(path)

    def fit_ready(self) -> int:
        """Batch (re)build on the final samples: what ``songlens train`` does."""
        ready = self.joiner.pop_ready()
        if ready:
            self.ranker.fit([s.context for s in ready], [int(s.complete) for s in ready],
                            [int(s.like) for s in ready])
        if self.trainer is not None:  # the rebuilt model serves; the batch fit reads its samples
            self.trainer.serving = self.ranker
            self.trainer.history.extend(ready)
            self.registry.add(self.ranker, kind="rebuild", accepted=True,
                              reason="rebuilt from the whole log",
                              trained={"samples": len(ready)})
        return len(ready)

    # -- snapshots -------------------------------------------------------------------------------
    def snapshot(self, kind: str = "online") -> Path:
        """Save the ranker (a registry entry) and the state atomically; prune old snapshots.
        With a cadence the serving model is already saved (every accepted candidate is): only
        the state is written, naming it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        sid = self.registry.serving
        path = self.registry.path(sid) if sid and self.trainer is not None else None
        if path is None or not path.exists():
            e = self.registry.add(self.ranker, kind=kind, accepted=True,
                                  reason="periodic snapshot" if kind == "online" else kind)
            path = self.folder / str(e.file)
        self._write_state(path)
        self.pending_events = 0
        listed = {e.file for e in self.registry.entries if e.file}
        for old in self.folder.glob("ranker-*.npz"):  # files of the time before the registry
            if old.name not in listed and old != path:
                old.unlink(missing_ok=True)
        log.info("ranker snapshot v%d at log seq %d -> %s", self.ranker.version, self.seq,
                 path)
        return path

    def _write_state(self, path: Path) -> None:
        state = {"format": STATE_FORMAT, "snapshot": path.name, "seq": self.seq,
                 "version": self.ranker.version, "n_seen": self.ranker.n_seen,
                 "saved_at": time.time(),
                 "open": [{f: getattr(s, f) for f in _FIELDS}
                          for s in self.joiner.open.values()]}
        if self.trainer is not None:
            state["pending"] = [{f: getattr(s, f) for f in _FIELDS} for s in self.trainer.pending]
        if math.isfinite(self.joiner.watermark):
            state["watermark"] = self.joiner.watermark
        write_atomic(self.folder / "state.json",
                     json.dumps(state, ensure_ascii=False).encode("utf-8"))
        self.snapshot_path = path

    def describe(self) -> RankerInfo:
        return RankerInfo(version=self.ranker.version, samples_seen=self.ranker.n_seen,
                          features_admitted=int(self.ranker.admitted.sum()),
                          pending_impressions=len(self.joiner.open), log_seq=self.seq,
                          snapshot=self.snapshot_path.name if self.snapshot_path else None,
                          training="online" if self.trainer is None else "cadence",
                          serving_id=self.registry.serving)
