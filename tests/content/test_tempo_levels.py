"""The tapped metrical level and calibrated confidences on a synthetic drum track whose beat is
known by construction; the calibration curves are monotone probabilities. (The level model's
accuracy on ternary and fast meters is measured on rendered pieces: benchmarks/tempo_key_fit.py;
on a synthetic 6/8 groove whose hats are as loud as its snare it taps the eighths.)"""

from __future__ import annotations

import numpy as np
import pytest

from songlens.content.features import audio_features, calibration
from songlens.content.features.calibration import _data, calibrated
from songlens.content.features.tempo import (
    LEVEL_FEATURES,
    choose_tempo,
    confidence_evidence,
    rank_levels,
)
from songlens.errors import ConfigError
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


@pytest.mark.parametrize(("name", "lo", "hi"), [("tempo_confidence", -15.0, 15.0),
                                                ("key_confidence", -0.5, 1.5)])
def test_calibration_is_a_monotone_probability(name, lo, hi):
    """Over the range of its evidence: the log-odds of the chosen level's probability (tempo),
    the key-profile margin (key)."""
    assert name in _data(), "calibration.json lacks a curve"
    grid = np.linspace(lo, hi, 101)
    values = [calibrated(name, float(x)) for x in grid]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[-1] > values[0]  # it says something



def test_rank_levels_is_a_softmax_across_candidates():
    """The candidate with the highest linear score wins, the next is the runner-up, and the
    probability is the winner's share of the softmax."""
    coef = np.array([1.0, -1.0])
    feats = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    bpm, alt, p = rank_levels([60.0, 120.0, 240.0], feats, coef, 0.5)
    assert (bpm, alt) == (120.0, 240.0)
    z = np.array([0.0, 2.0, 1.0])
    assert p == pytest.approx(np.exp(2.0) / np.exp(z).sum())
    assert rank_levels([90.0], feats[:1], coef, 0.0) == (90.0, None, pytest.approx(1.0))
    # the confidence's evidence is the log-odds, finite at the ends
    assert confidence_evidence(0.5) == pytest.approx(0.0)
    assert np.isfinite(confidence_evidence(1.0)) and confidence_evidence(1.0) > 10


def test_a_level_model_fitted_on_other_features_is_not_used(monkeypatch, caplog):
    """A calibration.json whose model names other features (reordered, older) is refused with a
    warning; the autocorrelation's tempo stands, with no runner-up."""
    data = dict(_data())
    model = dict(data["tempo_level"])
    model["features"] = list(reversed(LEVEL_FEATURES))
    monkeypatch.setattr(calibration, "_data", lambda: {**data, "tempo_level": model})
    env = np.zeros(600)
    env[::43] = 1.0  # a click every 43 frames
    low = env.copy()
    with caplog.at_level("WARNING"):
        est = choose_tempo(onset_env=env, low_env=low, fps=86.13)
    assert est.bpm > 0 and est.alt_bpm is None
    assert "other features" in caplog.text


def test_a_damaged_calibration_file_is_a_config_error(monkeypatch, tmp_path):
    bad = tmp_path / "calibration.json"
    bad.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(calibration, "CALIBRATION_PATH", bad)
    calibration._data.cache_clear()
    try:
        with pytest.raises(ConfigError, match="cannot read calibration.json"):
            calibration.tempo_level_model()
        bad.write_text('{"tempo_level": {"coef": [1, "x"], "intercept": 0, "features": []}}',
                       encoding="utf-8")
        calibration._data.cache_clear()
        with pytest.raises(ConfigError, match="bad tempo_level"):
            calibration.tempo_level_model()
    finally:
        calibration._data.cache_clear()
