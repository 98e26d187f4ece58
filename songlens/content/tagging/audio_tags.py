"""musicnn tag probabilities → calibrated taxonomy evidence (configs/audio_tags.yaml).

Each musicnn tag maps to zero or more ``(dimension, canonical tag, weight)`` targets. Its raw
track probability is calibrated per tag by a prior-shift correction against a low quantile of
the tag on a reference set of real music (see the yaml header for the method and its caveats):

    p = sigmoid(logit(raw) - logit(clip(base, base_floor, base_cap)) + logit(target_prior))

and each target receives ``Evidence(p = p * weight)`` when ``raw >= min_raw`` and ``p >= min_p``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from songlens.content.taxonomy import Evidence, Taxonomy
from songlens.errors import ConfigError, UnknownTag

__all__ = ["AudioTagMapping", "Calibration", "audio_evidence", "load_audio_tag_mapping"]

log = logging.getLogger(__name__)

_EPS = 1e-6


def _logit(p: float) -> float:
    p = min(max(float(p), _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Calibration:
    """Prior-shift calibration settings (``calibration:`` in the yaml)."""

    target_prior: float = 0.1
    base_floor: float = 0.02
    base_cap: float = 0.1
    base_quantile: float = 0.25
    min_raw: float = 0.05
    min_p: float = 0.15

    def __post_init__(self) -> None:
        for name in ("target_prior", "base_floor", "base_cap", "base_quantile"):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise ConfigError(f"audio_tags calibration.{name} must be in (0, 1), got {v!r}")
        for name in ("min_raw", "min_p"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"audio_tags calibration.{name} must be in [0, 1], got {v!r}")
        if self.base_floor > self.base_cap:
            raise ConfigError(f"audio_tags calibration.base_floor ({self.base_floor}) exceeds "
                              f"base_cap ({self.base_cap})")


class AudioTagMapping:
    """The parsed, validated ``configs/audio_tags.yaml``.

    Attributes
    ----------
    targets : dict[str, dict[str, list[tuple[str, str, float]]]]
        model → musicnn tag → ``(dimension, canonical tag, weight)`` list.
    quantiles : dict[str, dict[str, np.ndarray]]
        model → musicnn tag → reference quantiles at :attr:`levels` (may be empty).
    """

    def __init__(self, spec: dict[str, Any], *, taxonomy: Taxonomy,
                 labels: dict[str, tuple[str, ...]] | None = None) -> None:
        try:
            self.calibration = Calibration(**{k: float(v) for k, v in
                                              (spec.get("calibration") or {}).items()
                                              if k != "method"})
        except TypeError as exc:
            raise ConfigError(f"bad audio_tags calibration section: {exc}") from exc
        self.targets: dict[str, dict[str, list[tuple[str, str, float]]]] = {}
        for model, tags in (spec.get("mapping") or {}).items():
            known = labels.get(model) if labels else None
            self.targets[model] = {}
            for cue, items in (tags or {}).items():
                cue = str(cue)
                if known is not None and cue not in known:
                    raise ConfigError(f"audio_tags maps {cue!r}, which is not a {model} tag; "
                                      f"allowed: {', '.join(known)}")
                out = []
                for item in items:
                    if len(item) != 3:
                        raise ConfigError(f"audio_tags {model}/{cue}: each target is "
                                          f"[dimension, tag, weight], got {item!r}")
                    dim, tag, w = item
                    try:
                        dim = taxonomy.dimension(str(dim))
                        tag = taxonomy.canonical(dim, str(tag))
                    except UnknownTag as exc:
                        raise ConfigError(f"audio_tags {model}/{cue}: {exc.message}") from exc
                    if not 0.0 < float(w) <= 1.0:
                        raise ConfigError(f"audio_tags {model}/{cue}: weight must be in (0, 1], "
                                          f"got {w!r}")
                    out.append((dim, tag, float(w)))
                self.targets[model][cue] = out
        ref = spec.get("reference") or {}
        self.levels = np.asarray(ref.get("quantile_levels") or [], dtype=np.float64)
        self.quantiles: dict[str, dict[str, np.ndarray]] = {}
        for model, tags in (ref.get("quantiles") or {}).items():
            self.quantiles[model] = {}
            for cue, q in tags.items():
                arr = np.asarray(q, dtype=np.float64)
                if arr.shape != self.levels.shape or np.any(np.diff(arr) < 0):
                    raise ConfigError(f"audio_tags reference quantiles of {model}/{cue} must be "
                                      f"{self.levels.size} non-decreasing values, got {q!r}")
                self.quantiles[model][str(cue)] = arr
        if not self.quantiles:
            log.warning("audio_tags.yaml has no reference quantiles; raw musicnn probabilities "
                        "will be used uncalibrated")

    def base_rate(self, model: str, cue: str) -> float | None:
        """The tag's reference quantile at ``calibration.base_quantile`` (None if unknown)."""
        q = self.quantiles.get(model, {}).get(cue)
        if q is None or self.levels.size == 0:
            return None
        return float(np.interp(self.calibration.base_quantile, self.levels, q))

    def percentile(self, model: str, cue: str, raw: float) -> float | None:
        """Share of reference tracks below ``raw`` (interpolated between stored quantiles)."""
        q = self.quantiles.get(model, {}).get(cue)
        if q is None or self.levels.size == 0:
            return None
        if raw <= q[0]:
            return float(self.levels[0]) * (raw / q[0] if q[0] > 0 else 1.0)
        if raw >= q[-1]:
            return float(self.levels[-1])
        # np.interp needs increasing x; equal quantiles (flat regions) are nudged apart
        x = q + np.arange(q.size) * 1e-12
        return float(np.interp(raw, x, self.levels))

    def calibrate(self, model: str, cue: str, raw: float) -> float:
        """Calibrated probability of ``cue`` given its raw musicnn output ``raw``."""
        base = self.base_rate(model, cue)
        if base is None:
            return float(raw)
        c = self.calibration
        base = min(max(base, c.base_floor), c.base_cap)
        z = _logit(raw) - _logit(base) + _logit(c.target_prior)
        return 1.0 / (1.0 + math.exp(-z))


def load_audio_tag_mapping(path: str | Path, *, taxonomy: Taxonomy) -> AudioTagMapping:
    """Load and validate an audio tag mapping (``configs/audio_tags.yaml``) against ``taxonomy``
    and the musicnn tag lists."""
    p = Path(path)
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read audio tag mapping {str(p)!r}: {exc}") from exc
    from songlens.content.musicnn.tagger import MODELS, musicnn_labels

    labels = {m: musicnn_labels(m) for m in MODELS}
    return AudioTagMapping(spec, taxonomy=taxonomy, labels=labels)


def audio_evidence(tag_probs: dict[str, dict[str, float]], *,
                   mapping: AudioTagMapping) -> list[Evidence]:
    """Turn musicnn track probabilities into taxonomy evidence.

    Parameters
    ----------
    tag_probs : dict[str, dict[str, float]]
        model name → musicnn tag → track probability in [0, 1] (``AudioAnalysis.tag_probs``).
        Models or tags the mapping does not know are ignored.
    mapping : AudioTagMapping
        From :func:`load_audio_tag_mapping` (``Resources.audio_tags``).

    Returns
    -------
    list[Evidence]
        ``source="audio"``, ``cue`` the musicnn tag, ``p`` = calibrated probability x weight,
        ``detail`` = ``{"model", "raw", "calibrated", "percentile"}``; sorted by ``p``, descending.
    """
    c = mapping.calibration
    out: list[Evidence] = []
    for model, probs in tag_probs.items():
        targets = mapping.targets.get(model)
        if not targets:
            continue
        for cue, raw in probs.items():
            raw = float(raw)
            if cue not in targets or not math.isfinite(raw) or raw < c.min_raw:
                continue
            p = mapping.calibrate(model, cue, raw)
            if p < c.min_p:
                continue
            pct = mapping.percentile(model, cue, raw)
            detail = {"model": model, "raw": round(raw, 4), "calibrated": round(p, 4)}
            if pct is not None:
                detail["percentile"] = round(pct, 3)
            for dim, tag, w in targets[cue]:
                out.append(Evidence(dimension=dim, tag=tag, source="audio", cue=cue, p=p * w,
                                    detail=dict(detail)))
    out.sort(key=lambda e: -e.p)
    return out
