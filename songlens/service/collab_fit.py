"""The collaborative model beside the service: loaded at start, refit from the feedback log in
the background on a cadence, persisted atomically.

Cadence: after a feedback batch, :meth:`CollaborativeFit.maybe_refit` starts one background fit
when ``coldstart.channels.refit_every_events`` events were logged since the last fit and the
last fit is at least ``refit_min_s`` old (and none is running). The fit reads the log up to the
sequence number it started at, writes ``<data_dir>/collab/als.npz`` (temp file, fsync, rename),
then swaps the served model; requests meanwhile use the previous one. A restart loads the file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from songlens.coldstart.collaborative import ALSConfig, CollaborativeModel
from songlens.coldstart.events import Event
from songlens.coldstart.feedback_log import FeedbackLog
from songlens.errors import StoreError
from songlens.settings import RecallChannelSettings

__all__ = ["CollaborativeFit", "als_config"]

log = logging.getLogger(__name__)


def als_config(s: RecallChannelSettings) -> ALSConfig:
    return ALSConfig(factors=s.factors, iterations=s.iterations,
                     regularization=s.regularization, alpha=s.alpha,
                     min_item_users=s.min_item_users, threads=s.threads)


class CollaborativeFit:
    """Owns the served :class:`CollaborativeModel` (``model``; None before the first fit)."""

    def __init__(self, feedback: FeedbackLog, path: Path, settings: RecallChannelSettings, *,
                 signal: Mapping[str, Any] | None = None) -> None:
        self.feedback, self.path, self.settings, self.signal = feedback, path, settings, signal
        self.config = als_config(settings)
        self.model: CollaborativeModel | None = None
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._last_fit_mono = -float("inf")
        if path.exists():
            try:
                self.model = CollaborativeModel.load(path, self.config)
                log.info("collaborative model loaded: %d songs, fitted at seq %d",
                         len(self.model), self.model.fitted_seq)
            except StoreError:
                log.warning("collaborative model unreadable; it is refit on the next cadence",
                            exc_info=True)

    def _events(self, upto: int) -> Iterator[Event]:
        for le in self.feedback.iter_events(0):
            if le.seq > upto:
                return
            yield le.event

    def fit_now(self) -> CollaborativeModel:
        """Fit on the whole log, save, serve; returns the new model."""
        upto = self.feedback.last_seq()
        model = CollaborativeModel.fit(self._events(upto), self.config, signal=self.signal,
                                       fitted_seq=upto)
        model.save(self.path)
        self.model = model  # one reference swap: readers see the old or the new model
        self._last_fit_mono = time.monotonic()
        return model

    def due(self) -> bool:
        fitted = self.model.fitted_seq if self.model is not None else 0
        return (self.feedback.last_seq() - fitted >= self.settings.refit_every_events
                and time.monotonic() - self._last_fit_mono >= self.settings.refit_min_s)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def maybe_refit(self) -> bool:
        """Start a background fit when one is due and none runs; True when one started."""
        with self._guard:
            if self.running() or not self.due():
                return False
            self._last_fit_mono = time.monotonic()  # a failing fit is not retried at once
            self._thread = threading.Thread(target=self._run, name="songlens-als-fit",
                                            daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        try:
            self.fit_now()
            self.last_error = None
        except Exception as exc:  # a failed fit keeps serving the previous model
            self.last_error = type(exc).__name__
            log.exception("collaborative refit failed; the previous model keeps serving")

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running fit (shutdown and tests)."""
        t = self._thread
        if t is not None:
            t.join(timeout)
