"""The ranker's training cadence: a batch fit over recent days, timed mini-batch increments on
top of it, and a quality gate before anything serves.

After the live-streaming talk (seeds/netease-live-realtime-…, 4 and 4.3): the offline model is
refit daily on the last days of samples and is the warm start of the increments, which train
on the samples that became final since (every 15 minutes there); per-sample online learning
"opens too many fragmented features". Here:

* :meth:`CadenceTrainer.add` takes final samples (and :class:`~songlens.ranking.labels.Correction`
  of samples already trained) into ``pending``;
* :meth:`CadenceTrainer.increment` (on a timer) holds out the most recent ``holdout_share`` of
  ``pending``, trains a copy of the serving model on the rest (time features frozen, see
  :meth:`Ranker.partial_fit`), and lets it serve only if its AUC on the held-out slice is not
  worse than the serving model's by more than ``gate_margin`` (:func:`gate`). The held-out
  samples are trained by the next increment; a refused stretch is dropped;
* :meth:`CadenceTrainer.batch_candidate` fits a fresh model on the ``batch_days`` of samples
  before the cut-off (everything, time features included) — it needs no lock and runs beside the
  service — and :meth:`CadenceTrainer.offer` gates it on the samples neither model has seen.

Every candidate, accepted or refused, is recorded in the
:class:`~songlens.ranking.snapshots.SnapshotRegistry` with its held-out figures.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from songlens.coldstart.events import LabeledImpression
from songlens.ranking.labels import Correction, sample_key, sample_weight
from songlens.ranking.ranker import Ranker, RankerConfig
from songlens.ranking.snapshots import SnapshotRegistry
from songlens.units import DAY

__all__ = ["CadenceConfig", "CadenceTrainer", "auc", "gate", "heldout_auc"]

log = logging.getLogger(__name__)


@dataclass
class CadenceConfig:
    """``batch_days`` of samples per batch fit; an increment every ``increment_every_s``
    (mini-batches of ``increment_batch``); the newest ``holdout_share`` of an increment's samples
    (at least ``min_heldout``) held out for the gate, which refuses a candidate whose AUC is
    below the serving model's by more than ``gate_margin`` or below ``min_auc`` (a slice whose
    labels no model can rank — inverted or all alike — is a broken stretch of feedback, not a
    reason to change models); ``negative_weight`` for samples with
    explicit negative feedback; at most ``max_history`` samples kept for the batch fit; the
    service re-measures the wait window at ``window_quantile`` of the delays (0: keep it)."""

    batch_days: float = 7.0
    batch_every_s: float = DAY
    increment_every_s: float = 900.0
    increment_batch: int = 256
    holdout_share: float = 0.2
    min_heldout: int = 50
    gate_margin: float = 0.01
    min_auc: float = 0.55
    negative_weight: float = 2.0
    max_history: int = 200_000
    window_quantile: float = 0.95

    @classmethod
    def from_settings(cls, settings: Any) -> CadenceConfig:
        """From the ``coldstart.cadence`` settings (the same names)."""
        return cls(**settings.model_dump())


def auc(y: Sequence[float] | np.ndarray, s: Sequence[float] | np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get half credit); NaN with one class only."""
    y = np.asarray(y, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(np.asarray(s, dtype=np.float64))
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def heldout_auc(ranker: Ranker, samples: Sequence[LabeledImpression]) -> float:
    """AUC of p(complete) against the complete label over ``samples``."""
    if not samples:
        return float("nan")
    p = ranker.predict_many([s.context for s in samples])[:, 0]
    return auc([s.complete for s in samples], p)


def gate(candidate: Ranker, serving: Ranker | None, held: Sequence[LabeledImpression], *,
         margin: float, min_n: int, min_auc: float = 0.0) -> tuple[bool, str, dict[str, Any]]:
    """Should ``candidate`` replace ``serving``? Returns (accepted, reason, held-out figures)."""
    figs: dict[str, Any] = {"n": len(held), "positives": int(sum(s.complete for s in held))}
    if held:
        figs["since"], figs["until"] = float(held[0].ts), float(held[-1].ts)
    c = heldout_auc(candidate, held)
    figs["auc"] = None if np.isnan(c) else round(c, 5)
    if serving is None:
        return True, "nothing serving yet", figs
    s = heldout_auc(serving, held)
    figs["serving_auc"] = None if np.isnan(s) else round(s, 5)
    if len(held) < min_n or np.isnan(c) or np.isnan(s):
        return False, f"held-out slice too small to judge ({len(held)} samples)", figs
    if c < min_auc:
        return False, f"held-out AUC {c:.4f} below the floor {min_auc}: labels look broken", figs
    if c < s - margin:
        return False, f"held-out AUC {c:.4f} < serving {s:.4f} - margin {margin}", figs
    return True, f"held-out AUC {c:.4f} vs serving {s:.4f}", figs


def _xyw(samples: Sequence[LabeledImpression], neg_w: float
         ) -> tuple[list, list[int], list[int], list[float]]:
    return ([s.context for s in samples], [int(s.complete) for s in samples],
            [int(s.like) for s in samples], [sample_weight(s, negative_weight=neg_w)
                                             for s in samples])


class CadenceTrainer:
    """The serving model, the samples waiting for the next increment, the recent history the
    batch fit reads, and the registry of snapshots (``registry`` None: nothing saved, for
    simulations)."""

    def __init__(self, config: RankerConfig, cadence: CadenceConfig | None = None, *,
                 registry: SnapshotRegistry | None = None,
                 serving: Ranker | None = None) -> None:
        self.config, self.cadence, self.registry = config, cadence or CadenceConfig(), registry
        self.serving = serving
        self.pending: list[LabeledImpression] = []
        self.corrections: list[Correction] = []
        self.history: deque[LabeledImpression] = deque(maxlen=self.cadence.max_history)
        self.trained_until = -float("inf")  # newest impression time trained into serving
        self._since_batch: list[LabeledImpression] | None = None  # trained while a fit runs
        self.last: dict[str, Any] = {}

    # -- samples ---------------------------------------------------------------------------------
    def add(self, samples: Sequence[LabeledImpression],
            corrections: Sequence[Correction] = ()) -> None:
        self.pending.extend(samples)
        if corrections:
            self._correct(corrections)

    def _correct(self, corrections: Sequence[Correction]) -> None:
        """A correction of a sample not trained yet replaces it; of one already trained, it
        waits for the next increment (which takes the old step back and trains the new);
        either way the history the batch fit reads holds the corrected sample only."""
        by_key = {sample_key(c.old): c.new for c in corrections}
        for bucket in (self.pending, self.history):
            for i, s in enumerate(bucket):
                new = by_key.get(sample_key(s))
                if new is not None:
                    bucket[i] = new
                    if bucket is self.pending:
                        by_key.pop(sample_key(s))
        self.corrections += [c for c in corrections if sample_key(c.old) in by_key]

    # -- increments ------------------------------------------------------------------------------
    def increment(self) -> tuple[bool, dict[str, Any]]:
        """Train a copy of the serving model on ``pending`` minus its held-out slice; gate it.

        While the held-out slice would be smaller than ``min_heldout`` or hold one class only,
        nothing is trained and the samples wait for the next tick.
        """
        t0 = time.perf_counter()
        cad = self.cadence
        todo = sorted(self.pending, key=lambda s: s.ts)
        n_held = max(int(len(todo) * cad.holdout_share), min(cad.min_heldout, len(todo) // 2))
        train, held = todo[:len(todo) - n_held], todo[len(todo) - n_held:]
        n_pos = sum(s.complete for s in held)
        if self.serving is not None and cad.min_heldout > 0 and (
                len(held) < cad.min_heldout or n_pos in (0, len(held))):
            # too few to judge (or one class): wait for more rather than train blind
            return False, {"reason": f"waiting: {len(held)} held-out samples, {n_pos} positive"}
        fixes, self.corrections = self.corrections, []
        if not train and not fixes:
            return False, {"reason": "nothing to train"}
        cand = self.serving.copy() if self.serving is not None else Ranker(self.config)
        if fixes:  # take the old label's step back, then train the corrected one
            for sign, side in ((-1.0, "old"), (1.0, "new")):
                X, yc, yl, w = _xyw([getattr(c, side) for c in fixes], cad.negative_weight)
                cand.partial_fit(X, yc, yl, sample_weight=[sign * x for x in w],
                                 batch_size=cad.increment_batch, count=False)
        if train:
            X, yc, yl, w = _xyw(train, cad.negative_weight)
            cand.partial_fit(X, yc, yl, sample_weight=w, batch_size=cad.increment_batch)
        ok, reason, figs = gate(cand, self.serving, held, margin=cad.gate_margin,
                                min_n=cad.min_heldout, min_auc=cad.min_auc)
        self.pending = held  # trained next time (or judged again next time)
        info = {"trained": len(train), "corrections": len(fixes), "heldout": figs,
                "seconds": time.perf_counter() - t0}
        if ok:
            self.serving = cand
            self.history.extend(train)
            if self._since_batch is not None:
                self._since_batch.extend(train)
            if train:
                self.trained_until = max(self.trained_until, train[-1].ts)
        self._record(cand, "increment", ok, reason, figs, info)
        return ok, info

    # -- batch -----------------------------------------------------------------------------------
    def batch_inputs(self, now: float) -> list[LabeledImpression]:
        """The samples a batch fit reads: ``batch_days`` before ``now``, all trained already
        (copied: the fit can run in another thread while samples keep arriving)."""
        lo = now - self.cadence.batch_days * DAY
        self._since_batch = []
        return [s for s in list(self.history) if lo <= s.ts]

    def batch_candidate(self, samples: Sequence[LabeledImpression]) -> tuple[Ranker, float]:
        """A fresh model fit on ``samples`` (no shared state touched); and the seconds taken."""
        t0 = time.perf_counter()
        X, yc, yl, w = _xyw(samples, self.cadence.negative_weight)
        r = Ranker(self.config).fit(X, yc, yl, sample_weight=w)
        return r, time.perf_counter() - t0

    def offer(self, candidate: Ranker, *, kind: str = "batch",
              trained: dict[str, Any] | None = None) -> tuple[bool, dict[str, Any]]:
        """Gate a candidate trained elsewhere on the pending samples (which neither it nor the
        serving model has seen); it serves if it passes, and the pending samples are trained
        into it by the next increment."""
        held = sorted(self.pending, key=lambda s: s.ts)
        ok, reason, figs = gate(candidate, self.serving, held, margin=self.cadence.gate_margin,
                                min_n=self.cadence.min_heldout,
                                min_auc=self.cadence.min_auc)
        if ok:
            self.serving = candidate
            self.corrections = []  # the batch fit read the corrected history
            # what increments trained while the fit ran is not in the candidate: again
            self.pending = (self._since_batch or []) + self.pending
        self._since_batch = None
        self._record(candidate, kind, ok, reason, figs, dict(trained or {}))
        return ok, {"heldout": figs, "reason": reason}

    def _record(self, cand: Ranker, kind: str, ok: bool, reason: str, figs: dict[str, Any],
                info: dict[str, Any]) -> None:
        self.last = {"kind": kind, "accepted": ok, "reason": reason, **info}
        log.info("ranker %s candidate %s: %s", kind, "accepted" if ok else "refused", reason)
        if self.registry is not None:
            trained = {k: v for k, v in info.items() if k != "heldout"}
            self.registry.add(cand, kind=kind, accepted=ok, reason=reason, heldout=figs,
                              trained=trained)

    def rollback(self, snapshot_id: str) -> Ranker:
        """Serve an older snapshot from the registry; pending samples stay pending."""
        if self.registry is None:
            raise ValueError("no registry to roll back from")
        self.serving = self.registry.serve(snapshot_id)
        self.corrections = []
        return self.serving
