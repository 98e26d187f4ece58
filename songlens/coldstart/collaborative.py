"""Collaborative recall: implicit-feedback ALS (the ``implicit`` library) on the feedback log.

Co-listening carries what content cannot see (a scene, a label's circle, a show's soundtrack):
two songs the same listeners finish are related whatever their audio says. The model is
matrix factorisation on implicit feedback (Hu, Koren & Volinsky 2008) as ``implicit`` implements
it, always its CPU build (:class:`implicit.cpu.als.AlternatingLeastSquares`, never the GPU
factory):

* :func:`interaction_matrix` turns events into a user × song confidence matrix: the sum of each
  pair's positive signal weights (:func:`~songlens.coldstart.events.signal_weight`: complete,
  like, collect, long play…); negative and neutral events add nothing (ALS on implicit feedback
  has no negatives: absence is the weak negative). Songs with fewer than ``min_item_users``
  listeners are left out — a song is in the model once enough people played it, and until then
  it is the content channel's.
* :meth:`CollaborativeModel.fit` factorises it; only the song factors are kept.
  :meth:`CollaborativeModel.recommend` solves the user's factors from the user's *current*
  positive history at query time (``recalculate_user``), so a listener who arrived, or played
  more, after the last fit is served without a refit.
* :meth:`CollaborativeModel.save` / :meth:`load`: one ``.npz`` written atomically
  (:func:`songlens.files.write_atomic`), so a restart serves the last fit.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from songlens.coldstart.events import Event, signal_weight
from songlens.errors import InvalidInput, StoreError
from songlens.files import write_atomic

__all__ = ["ALSConfig", "CollaborativeModel", "interaction_matrix"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ALSConfig:
    """ALS hyper-parameters (``implicit`` names) and the admission rule for songs.

    ``threads``: ``implicit``'s own threads for the fit and the query (BLAS is held to one thread
    during a fit, as ``implicit`` recommends).
    """

    factors: int = 32
    iterations: int = 15
    regularization: float = 0.05
    alpha: float = 2.0
    min_item_users: int = 3
    threads: int = 1
    seed: int = 0


def interaction_matrix(events: Iterable[Event], *, signal: Mapping[str, Any] | None = None,
                       min_item_users: int = 1
                       ) -> tuple[list[str], list[str], csr_matrix]:
    """(user ids, song ids, users × songs float32 confidences) from ``events``.

    A pair's confidence is the sum of its positive signal weights; pairs with none are absent,
    and so are songs with fewer than ``min_item_users`` distinct listeners (and users left
    without a song).
    """
    conf: dict[tuple[str, str], float] = {}
    for ev in events:
        w = signal_weight(ev, signal)
        if w > 0:
            key = (ev.user_id, ev.song_id)
            conf[key] = conf.get(key, 0.0) + w
    n_users: dict[str, int] = {}
    for _, s in conf:
        n_users[s] = n_users.get(s, 0) + 1
    keep = {s for s, n in n_users.items() if n >= min_item_users}
    pairs = [(u, s, c) for (u, s), c in conf.items() if s in keep]
    users = sorted({u for u, _, _ in pairs})
    songs = sorted(keep)
    if not pairs:
        return users, songs, csr_matrix((0, 0), dtype=np.float32)
    ui = {u: i for i, u in enumerate(users)}
    si = {s: i for i, s in enumerate(songs)}
    rows = np.fromiter((ui[u] for u, _, _ in pairs), dtype=np.int32, count=len(pairs))
    cols = np.fromiter((si[s] for _, s, _ in pairs), dtype=np.int32, count=len(pairs))
    vals = np.fromiter((c for _, _, c in pairs), dtype=np.float32, count=len(pairs))
    mat = csr_matrix((vals, (rows, cols)), shape=(len(users), len(songs)), dtype=np.float32)
    return users, songs, mat


def _als(config: ALSConfig) -> Any:
    from implicit.cpu.als import AlternatingLeastSquares  # compiled; imported when used
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # it checks BLAS threads when built
        return AlternatingLeastSquares(factors=config.factors, iterations=config.iterations,
                                       regularization=config.regularization,
                                       alpha=config.alpha, num_threads=config.threads,
                                       random_state=config.seed)


class CollaborativeModel:
    """Song factors from one ALS fit, the song ids they belong to, and when it was fit.

    ``fitted_seq``: the last feedback-log sequence number the fit saw (0 when unknown);
    ``fitted_at``: unix seconds; ``fit_s``: how long the fit took.
    """

    def __init__(self, config: ALSConfig, song_ids: Sequence[str], item_factors: np.ndarray,
                 *, fitted_seq: int = 0, fitted_at: float = 0.0, n_users: int = 0,
                 n_pairs: int = 0, fit_s: float = 0.0) -> None:
        if len(song_ids) != len(item_factors):
            raise InvalidInput(f"{len(song_ids)} song ids for {len(item_factors)} factor rows")
        self.config = config
        self.song_ids = list(song_ids)
        self.index = {s: i for i, s in enumerate(self.song_ids)}
        self.fitted_seq, self.fitted_at = int(fitted_seq), float(fitted_at)
        self.n_users, self.n_pairs, self.fit_s = int(n_users), int(n_pairs), float(fit_s)
        self._model = _als(config)
        self._model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self._model.user_factors = np.zeros((1, item_factors.shape[1] if item_factors.ndim == 2
                                             else config.factors), dtype=np.float32)

    @classmethod
    def fit(cls, events: Iterable[Event], config: ALSConfig | None = None, *,
            signal: Mapping[str, Any] | None = None, fitted_seq: int = 0) -> CollaborativeModel:
        """Fit on ``events`` (any iterable: the log is read once)."""
        from threadpoolctl import threadpool_limits

        cfg = config or ALSConfig()
        t0 = time.perf_counter()
        users, songs, mat = interaction_matrix(events, signal=signal,
                                               min_item_users=cfg.min_item_users)
        if mat.nnz == 0:
            factors = np.zeros((0, cfg.factors), dtype=np.float32)
        else:
            model = _als(cfg)
            with threadpool_limits(limits=1, user_api="blas"):
                model.fit(mat, show_progress=False)
            factors = np.asarray(model.item_factors, dtype=np.float32)
        fit_s = time.perf_counter() - t0
        logger.info("ALS fit: %d users, %d songs, %d pairs in %.2f s", len(users), len(songs),
                    mat.nnz, fit_s)
        return cls(cfg, songs, factors, fitted_seq=fitted_seq, fitted_at=time.time(),
                   n_users=len(users), n_pairs=int(mat.nnz), fit_s=fit_s)

    def __len__(self) -> int:
        return len(self.song_ids)

    def __contains__(self, song_id: object) -> bool:
        return song_id in self.index

    def _row(self, history: Mapping[str, float]) -> csr_matrix | None:
        """The history as one CSR row over the model's songs (None when none is in it)."""
        known = [(self.index[s], float(w)) for s, w in history.items()
                 if s in self.index and w > 0]
        if not known:
            return None
        return csr_matrix((np.array([w for _, w in known], dtype=np.float32),
                           (np.zeros(len(known), dtype=np.int32),
                            np.array([i for i, _ in known], dtype=np.int32))),
                          shape=(1, len(self.song_ids)))

    def recommend(self, history: Mapping[str, float], k: int, *,
                  candidates: Iterable[str] | None = None,
                  exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """Up to ``k`` (song id, score) for a listener whose positive history is ``history``
        (``{song_id: confidence}``), best first. Songs of the history are never returned;
        ``candidates`` restricts the songs scored (those not in the model are ignored).
        Empty when no song of the history is in the model."""
        row = self._row(history)
        if row is None or k <= 0:
            return []
        drop = {self.index[s] for s in exclude if s in self.index}
        if candidates is not None:
            allowed = sorted({self.index[s] for s in candidates if s in self.index} - drop)
        else:
            allowed = sorted(set(range(len(self.song_ids))) - drop) if drop else None
        if allowed is not None and not allowed:
            return []
        ids, scores = self._model.recommend(0, row, N=k, recalculate_user=True,
                                            filter_already_liked_items=True, items=allowed)
        return [(self.song_ids[int(i)], float(s)) for i, s in zip(ids, scores, strict=True)
                if np.isfinite(s)]

    def score(self, history: Mapping[str, float], song_ids: Sequence[str]) -> np.ndarray:
        """The model's score of each song for the listener of ``history`` (NaN for a song not in
        the model, and for every song when no history song is)."""
        out = np.full(len(song_ids), np.nan, dtype=np.float64)
        row = self._row(history)
        if row is None:
            return out
        u = self._model.recalculate_user(0, row)
        ix = [(j, self.index[s]) for j, s in enumerate(song_ids) if s in self.index]
        if ix:
            rows = np.array([i for _, i in ix])
            out[[j for j, _ in ix]] = self._model.item_factors[rows] @ u
        return out

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the model to ``path`` (``.npz``) atomically."""
        buf = io.BytesIO()
        meta = {"config": asdict(self.config), "fitted_seq": self.fitted_seq,
                "fitted_at": self.fitted_at, "n_users": self.n_users, "n_pairs": self.n_pairs,
                "fit_s": self.fit_s}
        np.savez(buf, item_factors=self._model.item_factors,
                 song_ids=np.array(self.song_ids, dtype=np.str_),
                 meta=np.array(json.dumps(meta)))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path, config: ALSConfig | None = None) -> CollaborativeModel:
        """Read a model :meth:`save` wrote (raises :class:`StoreError` when it cannot).
        ``config`` (the current settings) replaces the saved one for the query-time solve."""
        try:
            with np.load(path, allow_pickle=False) as z:
                factors = np.asarray(z["item_factors"], dtype=np.float32)
                ids = [str(s) for s in z["song_ids"]]
                meta = json.loads(str(z["meta"]))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise StoreError(f"cannot read the collaborative model {path.name!r}: {exc}") from exc
        saved = ALSConfig(**meta["config"])
        cfg = config or saved
        if factors.ndim != 2 or (len(ids) and factors.shape[1] != cfg.factors):
            cfg = ALSConfig(**{**asdict(cfg), "factors": saved.factors})
        return cls(cfg, ids, factors, fitted_seq=meta["fitted_seq"],
                   fitted_at=meta["fitted_at"], n_users=meta["n_users"],
                   n_pairs=meta["n_pairs"], fit_s=meta["fit_s"])
