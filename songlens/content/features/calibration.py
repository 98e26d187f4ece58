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

__all__ = ["CALIBRATION_PATH", "calibrated", "tempo_level_model"]

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")


@cache
def _data() -> dict[str, Any]:
    try:
        return json.loads(CALIBRATION_PATH.read_text("utf-8"))
    except FileNotFoundError:
        return {}


def tempo_level_model() -> tuple[np.ndarray, float] | None:
    """(coefficients, intercept) of the tempo-level model (linear scores, softmax across the
    candidate levels); None before it is fitted."""
    m = _data().get("tempo_level")
    return None if m is None else (np.asarray(m["coef"], dtype=np.float64), float(m["intercept"]))


def calibrated(name: str, raw: float) -> float:
    """``raw`` mapped to a probability of being right by the calibration ``name``: Platt
    scaling, ``1 / (1 + exp(-(a·raw + b)))`` with ``a > 0`` (monotone), fitted on the tuning
    pieces; ``raw`` clipped to 0–1 when there is none."""
    curve = _data().get(name)
    if curve is None:
        return clip01(raw)
    a, b = curve["platt"]
    return clip01(1.0 / (1.0 + math.exp(-(a * raw + b))))
