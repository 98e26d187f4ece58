"""Online ranker: logistic regression trained with FTRL-Proximal, with feature admission.

Two targets, complete-play and like, each its own FTRL-Proximal model (McMahan et al., "Ad Click
Prediction: a View from the Trenches", KDD 2013, Algorithm 1) over hashed sparse features
(:func:`songlens.ranking.features.hash_feature`); :meth:`Ranker.predict` combines them into one
score with the weights of ``score_weights``.

Feature admission, after the NetEase live-streaming talk (seeds/netease-live-realtime-…):

* **hard admission** — a feature gets a weight only once it has been seen ``admit_batch`` times
  (in :meth:`Ranker.fit`, counted over the whole training set first) or ``admit_online`` times
  (in :meth:`Ranker.partial_fit`, counting everything seen so far, batch included). Counts live
  in one array indexed like the weights (a one-row count sketch: it shares the hash collisions of
  the weights and nothing else);
* **dynamic L1** — the L1 strength of feature *i* is ``l1 · (1 + C · max(N − freq_i, 0) / N)``,
  so rarely seen features are shrunk harder until they have been seen ``N`` times;
* **frozen time features** — features whose names start with a prefix in ``frozen_prefixes``
  (``time:``: hour, weekday and their crosses) are trained in :meth:`Ranker.fit` (batch, shuffled)
  and only *used* by :meth:`Ranker.partial_fit`, which never moves them: streamed samples arrive
  ordered in time, so an online update would fit the current hour only. Their counts are frozen
  too, so the dynamic L1 that shapes their weights does not drift between batch fits.

Snapshots (:meth:`Ranker.save`) are written atomically (temporary file, fsync, ``os.replace``)
and carry a format version, the model version (updates so far) and the config;
:meth:`Ranker.load` restores them bit for bit for a warm start.
"""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from songlens.errors import InvalidInput, ModelError
from songlens.files import write_atomic
from songlens.ranking.features import hash_feature

__all__ = ["RankerConfig", "FTRLProximal", "Ranker", "TARGETS", "SNAPSHOT_FORMAT"]

logger = logging.getLogger(__name__)

TARGETS = ("complete", "like")
SNAPSHOT_FORMAT = 1


@dataclass
class RankerConfig:
    """Hyper-parameters (JSON-serialisable; stored in every snapshot)."""

    alpha: float = 0.05
    beta: float = 1.0
    l1: float = 0.5
    l2: float = 1.0
    n_bits: int = 20
    admit_batch: int = 5
    admit_online: int = 3
    dyn_l1_n: int = 20
    dyn_l1_c: float = 2.0
    frozen_prefixes: tuple[str, ...] = ("time:",)
    score_weights: dict[str, float] = field(
        default_factory=lambda: {"complete": 1.0, "like": 1.0})
    epochs: int = 2
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frozen_prefixes"] = list(self.frozen_prefixes)
        return d

    @classmethod
    def from_settings(cls, settings: Any) -> RankerConfig:
        """From the validated ``coldstart.ranker`` settings: every field of the same name, and the
        two target weights as ``score_weights``. A setting with no field here is an error, so
        the two cannot drift apart silently."""
        names = {f.name for f in fields(cls)}
        given = set(type(settings).model_fields) - {"complete_weight", "like_weight"}
        if given - names:
            raise TypeError(f"ranker settings without a RankerConfig field: {given - names}")
        return cls(**{k: getattr(settings, k) for k in given},
                   score_weights={"complete": settings.complete_weight,
                                  "like": settings.like_weight})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RankerConfig:
        d = dict(d)
        d["frozen_prefixes"] = tuple(d.get("frozen_prefixes", ("time:",)))
        return cls(**d)


class FTRLProximal:
    """Per-coordinate FTRL-Proximal state (``z``, ``n``) for one logistic-regression target."""

    def __init__(self, size: int) -> None:
        self.z = np.zeros(size, dtype=np.float64)
        self.n = np.zeros(size, dtype=np.float64)

    def weights(self, idx: np.ndarray, l1: np.ndarray, cfg: RankerConfig) -> np.ndarray:
        """Closed-form weights of coordinates ``idx`` given their L1 strengths."""
        z = self.z[idx]
        w = -(z - np.sign(z) * l1) / ((cfg.beta + np.sqrt(self.n[idx])) / cfg.alpha + cfg.l2)
        return np.where(np.abs(z) <= l1, 0.0, w)

    def step(self, idx: np.ndarray, val: np.ndarray, w: np.ndarray, p: float, y: float,
             cfg: RankerConfig, sample_weight: float = 1.0) -> None:
        """One FTRL update of coordinates ``idx`` (unique) from prediction ``p`` and label ``y``."""
        g = (p - y) * val * sample_weight
        n_old = self.n[idx]
        n_new = n_old + g * g
        sigma = (np.sqrt(n_new) - np.sqrt(n_old)) / cfg.alpha
        self.z[idx] += g - sigma * w
        self.n[idx] = n_new


def _sigmoid(x: float) -> float:
    x = max(min(x, 35.0), -35.0)
    return 1.0 / (1.0 + np.exp(-x))


class _Encoded:
    __slots__ = ("idx", "val", "frozen")

    def __init__(self, idx: np.ndarray, val: np.ndarray, frozen: np.ndarray) -> None:
        self.idx, self.val, self.frozen = idx, val, frozen


class Ranker:
    """Two FTRL-Proximal logistic regressions (complete, like) sharing features and counts."""

    def __init__(self, config: RankerConfig | None = None) -> None:
        self.config = config or RankerConfig()
        unknown = set(self.config.score_weights) - set(TARGETS)
        if unknown:
            raise InvalidInput(f"score_weights has unknown targets {sorted(unknown)}; "
                               f"allowed: {list(TARGETS)}")
        size = 1 << self.config.n_bits
        self.models = {t: FTRLProximal(size) for t in TARGETS}
        self.counts = np.zeros(size, dtype=np.int64)
        self.admitted = np.zeros(size, dtype=bool)
        self.version = 0
        self.n_seen = 0

    # -- encoding --------------------------------------------------------------------------------
    def encode(self, features: Mapping[str, float]) -> _Encoded:
        bits, pref = self.config.n_bits, self.config.frozen_prefixes
        names = list(features)
        idx = np.fromiter((hash_feature(nm, bits) for nm in names), dtype=np.int64,
                          count=len(names))
        val = np.fromiter((float(features[nm]) for nm in names), dtype=np.float64,
                          count=len(names))
        frozen = np.fromiter((nm.startswith(pref) for nm in names), dtype=bool, count=len(names))
        if len(np.unique(idx)) != len(idx):  # a collision inside one sample: merge
            u, inv = np.unique(idx, return_inverse=True)
            v = np.zeros(len(u))
            np.add.at(v, inv, val)
            fz = np.zeros(len(u), dtype=bool)
            np.logical_or.at(fz, inv, frozen)
            idx, val, frozen = u, v, fz
        return _Encoded(idx, val, frozen)

    def _l1(self, idx: np.ndarray) -> np.ndarray:
        cfg = self.config
        freq = self.counts[idx]
        return cfg.l1 * (1.0 + cfg.dyn_l1_c * np.maximum(cfg.dyn_l1_n - freq, 0) / cfg.dyn_l1_n)

    def _raw(self, e: _Encoded, target: str) -> tuple[float, np.ndarray, np.ndarray]:
        l1 = self._l1(e.idx)
        w = self.models[target].weights(e.idx, l1, self.config) * self.admitted[e.idx]
        return float(np.dot(w, e.val)), w, l1

    # -- training --------------------------------------------------------------------------------
    def _train_one(self, e: _Encoded, labels: Mapping[str, float], *, online: bool,
                   sample_weight: float) -> None:
        trainable = self.admitted[e.idx]
        if online:
            trainable = trainable & ~e.frozen
        if not trainable.any():
            return
        ti, tv = e.idx[trainable], e.val[trainable]
        for t in TARGETS:
            s, w, _ = self._raw(e, t)
            p = _sigmoid(s)
            self.models[t].step(ti, tv, w[trainable], p, float(labels[t]), self.config,
                                sample_weight)

    @staticmethod
    def _labels(n: int, y_complete: Sequence[float], y_like: Sequence[float]) -> np.ndarray:
        yc, yl = np.asarray(y_complete, dtype=np.float64), np.asarray(y_like, dtype=np.float64)
        if yc.shape != (n,) or yl.shape != (n,):
            raise InvalidInput(f"labels must have one value per sample ({n}); got "
                               f"{yc.shape} and {yl.shape}")
        if not (np.isin(yc, (0.0, 1.0)).all() and np.isin(yl, (0.0, 1.0)).all()):
            raise InvalidInput("labels must be 0 or 1")
        return np.stack([yc, yl], axis=1)

    def fit(self, X: Sequence[Mapping[str, float]], y_complete: Sequence[float],
            y_like: Sequence[float], *, sample_weight: Sequence[float] | None = None,
            epochs: int | None = None, reset: bool = True) -> Ranker:
        """Batch (re)build: count features over all of ``X``, admit, then shuffled FTRL epochs.

        ``reset=True`` starts from zero (a daily rebuild); ``reset=False`` continues from the
        current state (counts add up). Every feature is trained here, time features included.
        """
        Y = self._labels(len(X), y_complete, y_like)
        sw = (np.ones(len(X)) if sample_weight is None
              else np.asarray(sample_weight, dtype=np.float64))
        if reset:
            self.__init__(self.config)  # type: ignore[misc]
        enc = [self.encode(x) for x in X]
        for e in enc:
            np.add.at(self.counts, e.idx, 1)
        self.admitted |= self.counts >= self.config.admit_batch
        rng = np.random.default_rng(self.config.seed)
        for _ in range(self.config.epochs if epochs is None else epochs):
            for i in rng.permutation(len(enc)):
                self._train_one(enc[i], {"complete": Y[i, 0], "like": Y[i, 1]},
                                online=False, sample_weight=float(sw[i]))
        self.n_seen += len(enc)
        self.version += 1
        logger.info("ranker fit on %d samples: %d features admitted", len(enc),
                    int(self.admitted.sum()))
        return self

    def partial_fit(self, X: Sequence[Mapping[str, float]], y_complete: Sequence[float],
                    y_like: Sequence[float], *, sample_weight: Sequence[float] | None = None,
                    batch_size: int = 1, count: bool = True) -> Ranker:
        """Online update in arrival order; frozen (time) features are used but not moved, and
        their counts do not grow either, so their dynamic L1 (which reads the counts) stays as
        the batch fit left it.

        ``batch_size`` > 1 is a mini-batch increment: the samples of each chunk are scored with
        the weights as they were at the chunk's start, then their FTRL steps are applied (the
        live-streaming talk's increments instead of one update per sample). A negative
        ``sample_weight`` takes an earlier step back (a label correction); ``count=False`` leaves
        the feature counts alone (the sample was counted when it was first trained).
        """
        Y = self._labels(len(X), y_complete, y_like)
        sw = (np.ones(len(X)) if sample_weight is None
              else np.asarray(sample_weight, dtype=np.float64))
        thr, bs = self.config.admit_online, max(int(batch_size), 1)
        for lo in range(0, len(X), bs):
            enc = []
            for x in X[lo:lo + bs]:
                e = self.encode(x)
                live = e.idx[~e.frozen]
                if count:
                    self.counts[live] += 1
                newly = (self.counts[live] >= thr) & ~self.admitted[live]
                if newly.any():
                    self.admitted[live[newly]] = True
                enc.append(e)
            if bs == 1:
                self._train_one(enc[0], {"complete": Y[lo, 0], "like": Y[lo, 1]}, online=True,
                                sample_weight=float(sw[lo]))
                continue
            steps = []
            for j, e in enumerate(enc):  # score the whole chunk first
                trainable = self.admitted[e.idx] & ~e.frozen
                if trainable.any():
                    steps.append((j, e.idx[trainable], e.val[trainable], {
                        t: (_sigmoid(s), w[trainable]) for t in TARGETS
                        for s, w, _ in [self._raw(e, t)]}))
            for j, ti, tv, by_t in steps:
                for k, t in enumerate(TARGETS):
                    p, w = by_t[t]
                    self.models[t].step(ti, tv, w, p, float(Y[lo + j, k]), self.config,
                                        float(sw[lo + j]))
        self.n_seen += len(X)
        self.version += 1
        return self

    def copy(self) -> Ranker:
        """An independent copy (a candidate trained beside the serving model)."""
        return copy.deepcopy(self)

    # -- prediction ------------------------------------------------------------------------------
    def predict(self, features: Mapping[str, float]) -> tuple[float, float, float]:
        """``(p_complete, p_like, score)``; score = weighted mean of the two by config."""
        e = self.encode(features)
        pc = _sigmoid(self._raw(e, "complete")[0])
        pl = _sigmoid(self._raw(e, "like")[0])
        return pc, pl, self.combine(pc, pl)

    def combine(self, p_complete: float, p_like: float) -> float:
        sw = self.config.score_weights
        tot = sum(sw.values()) or 1.0
        return (sw.get("complete", 0.0) * p_complete + sw.get("like", 0.0) * p_like) / tot

    def predict_many(self, X: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Array ``(n, 3)`` of (p_complete, p_like, score) rows."""
        return np.array([self.predict(x) for x in X], dtype=np.float64).reshape(len(X), 3)

    def explain(self, features: Mapping[str, float], n: int = 5
                ) -> list[tuple[str, float, float]]:
        """The ``n`` features that move the score most, as ``(name, value, contribution)``.

        A contribution is the feature's term in the two targets' logits (weight × value),
        mixed by ``score_weights``; admitted features with a zero weight are left out.
        """
        names = list(features)
        if not names:
            return []
        bits = self.config.n_bits
        idx = np.fromiter((hash_feature(nm, bits) for nm in names), dtype=np.int64,
                          count=len(names))
        val = np.array([float(features[nm]) for nm in names])
        l1, sw = self._l1(idx), self.config.score_weights
        tot = sum(sw.values()) or 1.0
        contrib = np.zeros(len(names))
        for t in TARGETS:
            w = self.models[t].weights(idx, l1, self.config) * self.admitted[idx]
            contrib += sw.get(t, 0.0) / tot * w * val
        order = np.argsort(-np.abs(contrib), kind="stable")[:n]
        return [(names[i], float(val[i]), float(contrib[i])) for i in order if contrib[i] != 0]

    def weight(self, name: str, target: str = "complete") -> float:
        """Current weight of one feature (0 until it is admitted)."""
        i = np.array([hash_feature(name, self.config.n_bits)])
        if not self.admitted[i[0]]:
            return 0.0
        return float(self.models[target].weights(i, self._l1(i), self.config)[0])

    def frequency(self, name: str) -> int:
        return int(self.counts[hash_feature(name, self.config.n_bits)])

    # -- snapshots -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write a snapshot atomically (temp file in the same folder, fsync, ``os.replace``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": SNAPSHOT_FORMAT, "version": self.version, "n_seen": self.n_seen,
                "config": self.config.to_dict(), "targets": list(TARGETS)}
        arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(meta).encode(),
                                                              dtype=np.uint8)}
        nz = np.flatnonzero(self.counts)
        arrays["count_idx"], arrays["count_val"] = nz, self.counts[nz]
        arrays["admitted_idx"] = np.flatnonzero(self.admitted)
        for t, m in self.models.items():
            used = np.flatnonzero((m.n != 0) | (m.z != 0))
            arrays[f"{t}_idx"], arrays[f"{t}_z"], arrays[f"{t}_n"] = used, m.z[used], m.n[used]
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        write_atomic(path, buf.getvalue())
        logger.info("ranker snapshot v%d -> %s", self.version, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Ranker:
        """Restore a snapshot written by :meth:`save` (raises :class:`ModelError`)."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                if meta.get("format") != SNAPSHOT_FORMAT:
                    raise ModelError(f"ranker snapshot {str(path)!r} has format "
                                     f"{meta.get('format')!r}; this build reads {SNAPSHOT_FORMAT}")
                bits = meta["config"].get("n_bits")
                if not (isinstance(bits, int) and 8 <= bits <= 26):  # as settings allow
                    raise ModelError(f"ranker snapshot {str(path)!r}: n_bits {bits!r} is "
                                     "outside 8-26")
                r = cls(RankerConfig.from_dict(meta["config"]))
                r.version, r.n_seen = int(meta["version"]), int(meta["n_seen"])
                r.counts[data["count_idx"]] = data["count_val"]
                r.admitted[data["admitted_idx"]] = True
                for t in TARGETS:
                    idx = data[f"{t}_idx"]
                    r.models[t].z[idx] = data[f"{t}_z"]
                    r.models[t].n[idx] = data[f"{t}_n"]
        except ModelError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot read ranker snapshot {str(path)!r}: {exc}") from exc
        return r
