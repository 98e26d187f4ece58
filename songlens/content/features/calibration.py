"""Small fitted data the features use: the tempo level model and the confidence calibrations
(``calibration.json``, written by ``benchmarks/tempo_key_fit.py`` from the rendered tuning
pieces; the held-out figures are in benchmarks/RESULTS.md)."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from songlens.content.features.common import clip01
from songlens.errors import ConfigError

__all__ = ["CALIBRATION_PATH", "calibrated", "tempo_level_model"]

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")


@cache
def _data() -> dict[str, Any]:
    try:
        data = json.loads(CALIBRATION_PATH.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {CALIBRATION_PATH.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{CALIBRATION_PATH.name} is not a JSON object")
    return data


def tempo_level_model() -> tuple[np.ndarray, float, tuple[str, ...]] | None:
    """(coefficients, intercept, feature names) of the tempo-level model (linear scores, softmax
    across the candidate levels); None before it is fitted."""
    m = _data().get("tempo_level")
    if m is None:
        return None
    try:
        coef = np.asarray(m["coef"], dtype=np.float64)
        intercept = float(m["intercept"])
        names = tuple(str(f) for f in m["features"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{CALIBRATION_PATH.name}: bad tempo_level entry ({exc})") from exc
    if coef.ndim != 1 or not np.all(np.isfinite(coef)) or not math.isfinite(intercept):
        raise ConfigError(f"{CALIBRATION_PATH.name}: tempo_level weights are not finite numbers")
    return coef, intercept, names


def calibrated(name: str, raw: float, *, default: float | None = None) -> float:
    """``raw`` mapped to a probability of being right by the calibration ``name``: Platt
    scaling, ``1 / (1 + exp(-(a·raw + b)))`` with ``a > 0`` (monotone), fitted on the tuning
    pieces. Without that calibration: ``default`` (None: ``raw`` clipped to 0–1)."""
    curve = _data().get(name)
    if curve is None:
        return clip01(raw if default is None else default)
    try:
        a, b = (float(v) for v in curve["platt"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{CALIBRATION_PATH.name}: bad {name} entry ({exc})") from exc
    z = max(-700.0, min(700.0, a * raw + b))
    return clip01(1.0 / (1.0 + math.exp(-z)))
