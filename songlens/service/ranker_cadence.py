"""The ranker's training cadence beside the running service (``coldstart.training: cadence``).

A daemon thread wakes every ``cadence.increment_every_s`` and runs a gated mini-batch increment
(:meth:`RankerCadence.run_increment`, under the service's write lock: it is short); every
``cadence.batch_every_s`` it runs :meth:`RankerCadence.run_batch`: under the lock, the
re-attribution pass over the samples since the last pass and the events logged since (累计归因),
the wait window re-measured from those events (its ``window_quantile``), and a copy of the
batch window's samples; then, *without* the lock, the batch fit (feedback and ranking go on);
then, under the lock again, the quality gate. Operators can run both on demand and roll back
(``/v1/admin/ranker/…``, ``songlens ranker …``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from songlens.ranking.labels import measure_delays, reattribute

if TYPE_CHECKING:
    from songlens.service.learning import FeedbackLoop

__all__ = ["RankerCadence"]

log = logging.getLogger(__name__)


class RankerCadence:
    """Runs ``loop``'s increments and batch fits on a timer (``start``) or on demand."""

    def __init__(self, loop: FeedbackLoop) -> None:
        self.loop = loop
        self.cfg = loop.cs.cadence
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._batch_lock = threading.Lock()  # one batch fit at a time
        self._pass_seq = loop.learner.seq
        self._pass_ts = time.time()
        self.last_batch: dict[str, Any] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ranker-cadence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        next_batch = time.monotonic() + self.cfg.batch_every_s
        while not self._stop.wait(self.cfg.increment_every_s):
            try:
                self.run_increment()
                if time.monotonic() >= next_batch:
                    next_batch = time.monotonic() + self.cfg.batch_every_s
                    self.run_batch()
            except Exception:  # the thread must outlive one bad run; the service goes on
                log.exception("ranker cadence: a training run failed")

    def run_increment(self) -> dict[str, Any]:
        with self.loop.lock:
            return _finite(self.loop.learner.increment())

    def run_batch(self) -> dict[str, Any]:
        """Re-attribute, re-measure the wait window, fit (unlocked), gate."""
        if not self._batch_lock.acquire(blocking=False):
            return {"reason": "a batch fit is already running"}
        try:
            with self.loop.lock:
                learner = self.loop.learner
                trainer = learner.trainer
                if trainer is None:
                    return {"reason": "online training: no batch fit"}
                events = [le.event for le in self.loop.log.iter_events(self._pass_seq)]
                lo = self._pass_ts - learner.joiner.window_s
                since = [s for s in trainer.history if s.ts >= lo]
                fixes = reattribute(since, events)
                trainer.add([], fixes)
                delays = measure_delays(events, quantile=self.cfg.window_quantile,
                                        default_s=learner.joiner.window_s)
                if self.cfg.window_quantile > 0 and delays.converted >= 20:
                    learner.joiner.window_s = delays.window_s
                self._pass_seq, self._pass_ts = learner.seq, time.time()
                inputs = trainer.batch_inputs(time.time())
            t0 = time.perf_counter()
            cand, _ = trainer.batch_candidate(inputs) if inputs else (None, 0.0)
            secs = time.perf_counter() - t0
            with self.loop.lock:
                if cand is None or self.loop.learner is not learner:  # rebuilt meanwhile
                    info: dict[str, Any] = {"reason": "no samples to fit" if cand is None
                                            else "the ranker was rebuilt meanwhile"}
                else:
                    info = learner.offer(cand, samples=len(inputs), seconds=round(secs, 3),
                                         reattributed=len(fixes),
                                         window_s=round(learner.joiner.window_s, 1))
            info.update(reattributed=len(fixes), wait_window_s=learner.joiner.window_s,
                        delays={"impressions": delays.impressions,
                                "converted": delays.converted,
                                "join_rate": delays.join_rate, **delays.quantiles},
                        samples=len(inputs), fit_seconds=secs)
            info = _finite(info)
            self.last_batch = info
            log.info("ranker batch fit: %s", info.get("reason"))
            return info
        finally:
            self._batch_lock.release()


def _finite(d: Any) -> Any:
    """``d`` with NaN / infinite floats as None (answers are JSON)."""
    if isinstance(d, dict):
        return {k: _finite(v) for k, v in d.items()}
    if isinstance(d, list | tuple):
        return [_finite(v) for v in d]
    if isinstance(d, float) and not math.isfinite(d):
        return None
    return d
