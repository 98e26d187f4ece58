"""The tapped metrical level and calibrated confidences on a synthetic drum track whose beat is
known by construction; the calibration curves are monotone probabilities. (The level model's
accuracy on ternary and fast meters is measured on rendered pieces: benchmarks/tempo_key_fit.py;
on a synthetic 6/8 groove whose hats are as loud as its snare it taps the eighths.)"""

from __future__ import annotations

import numpy as np
import pytest

from songlens.content.features import audio_features
from songlens.content.features.calibration import _data, calibrated
from tests.content.test_features import _drums

SR = 16000


def test_groove_level_runner_up_and_confidence():
    """A 4/4 drum groove at 120 BPM (kick, snare, hats): the tapped beat, another level as
    runner-up, a confident probability; noise: little confidence (the calibration holds for
    music with a pulse)."""
    f = audio_features(y=_drums(120.0), sr=SR)
    assert abs(f.tempo_bpm - 120.0) <= 0.04 * 120.0, f.tempo_bpm
    assert f.tempo_alt_bpm is not None and abs(f.tempo_alt_bpm - 120.0) > 0.04 * 120.0
    assert 0.5 <= f.tempo_confidence <= 1.0
    noise = np.random.default_rng(5).normal(scale=0.1, size=10 * SR).astype(np.float32)
    assert audio_features(y=noise, sr=SR).tempo_confidence < 0.3


@pytest.mark.parametrize("name", ["tempo_confidence", "key_confidence"])
def test_calibration_is_a_monotone_probability(name):
    assert name in _data(), "calibration.json lacks a curve"
    grid = np.linspace(-0.5, 1.5, 101)
    values = [calibrated(name, float(x)) for x in grid]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] > values[0]  # it says something

