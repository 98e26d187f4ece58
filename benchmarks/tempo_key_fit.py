"""Fit and measure the tempo level model and the key/tempo confidence calibrations.

Rendered General MIDI pieces (:mod:`meters`: 4/4, fast 4/4, 3/4, 6/8 and 12/8; the tapped beat
known by construction) in two disjoint sets: ``--tune-seed`` (default 1) is the tuning set the
logistic level model and the isotonic calibrations are fitted on; ``--heldout-seed`` (default 2)
is only measured. Every number comes from the package's own functions
(:func:`estimate_tempo`, :func:`tempo_levels`, :func:`estimate_key` on :func:`chroma_summary`),
applied to the same onset envelope :func:`audio_features` computes.

    python benchmarks/tempo_key_fit.py --n 90 --write   # fit, write calibration.json, report
    python benchmarks/tempo_key_fit.py --n 90           # report with the stored calibration

Needs fluidsynth + FluidR3_GM (as features_accuracy.py) and scikit-learn (fitting only).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import librosa
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_accuracy import render  # noqa: E402
from meters import METERS, make_meter_piece  # noqa: E402

from songlens.content.audio_io import load_audio_file  # noqa: E402
from songlens.content.features import calibration  # noqa: E402
from songlens.content.features.tempo import (  # noqa: E402
    LEVEL_FEATURES,
    estimate_tempo,
    tempo_levels,
)
from songlens.content.features.tonal import chroma_summary, estimate_key  # noqa: E402


def onset_envelope(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The onset envelopes (all bands, bass band) exactly as :func:`audio_features` computes
    them."""
    n_fft = 1 << int(round(math.log2(0.064 * sr)))
    hop = n_fft // 4
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, window="hann")) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=96, fmax=sr / 2)
    low = librosa.mel_frequencies(n_mels=96, fmax=sr / 2) < 200.0
    return (librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=hop),
            librosa.onset.onset_strength(S=librosa.power_to_db(mel[low]), sr=sr, hop_length=hop),
            sr / hop)


def measure(seed: int, n: int, cache: Path) -> list[dict]:
    """Per piece: truth, the baseline tempo, the level candidates' features, the key evidence."""
    path = cache / f"pieces-{seed}-{n}.json"
    if path.exists():
        return json.loads(path.read_text())
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        mid, piece = make_meter_piece(i, rng)
        wav = cache / f"{seed}-{piece.name}.wav"
        if not wav.exists():
            render(mid, wav)
        a = load_audio_file(wav)
        env, low, fps = onset_envelope(a.y, a.sr)
        base, *_ = estimate_tempo(onset_env=env, fps=fps)
        cands = tempo_levels(onset_env=env, low_env=low, fps=fps, bpm=base) if base > 0 else []
        key = estimate_key(chroma=chroma_summary(y=a.y, sr=a.sr), profile="albrecht")
        rows.append({"name": piece.name, "meter": piece.meter, "bpm": piece.bpm,
                     "tonic": piece.tonic, "mode": piece.mode, "base": base,
                     "cands": [[b, x.tolist()] for b, x in cands],
                     "key": None if key is None else [key[0], key[1], key[2]]})
        print(f"{seed} {piece.name:28s} base {base:6.1f}", flush=True)
    path.write_text(json.dumps(rows))
    return rows


def near(est: float, ref: float, tol: float = 0.04) -> bool:
    return abs(est - ref) <= tol * ref


def choose(row: dict, coef: np.ndarray, intercept: float) -> tuple[float, float | None, float]:
    """(bpm, runner-up, raw share) as :func:`choose_tempo` decides from the same features."""
    if not row["cands"]:
        return 0.0, None, 0.0
    sc = sorted(((1 / (1 + math.exp(-(np.asarray(x) @ coef + intercept))), b)
                 for b, x in row["cands"]), reverse=True)
    return sc[0][1], sc[1][1] if len(sc) > 1 else None, sc[0][0] / sum(p for p, _ in sc)


def fit(rows: list[dict]) -> dict:
    from sklearn.linear_model import LogisticRegression

    X = np.array([x for r in rows for _, x in r["cands"]])
    y = np.array([near(b, r["bpm"]) for r in rows for b, _ in r["cands"]])
    mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
    lr = LogisticRegression(C=1.0, max_iter=2000).fit((X - mu) / sd, y)
    coef = lr.coef_[0] / sd
    intercept = float(lr.intercept_[0] - np.sum(lr.coef_[0] * mu / sd))
    out = {"tempo_level": {"features": list(LEVEL_FEATURES), "coef": coef.tolist(),
                           "intercept": intercept}}
    share = np.array([choose(r, coef, intercept)[2] for r in rows])
    ok = np.array([near(choose(r, coef, intercept)[0], r["bpm"]) for r in rows])
    for name, raw, right in (("tempo_confidence", share, ok),
                             ("key_confidence", *key_evidence(rows))):
        # Platt scaling: smooth and monotone, never a flat 0 or 1 from a handful of pieces
        platt = LogisticRegression(C=1.0).fit(raw[:, None], right)
        out[name] = {"platt": [float(platt.coef_[0][0]), float(platt.intercept_[0])]}
    return out


def key_evidence(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    raw = np.array([r["key"][2] if r["key"] else 0.0 for r in rows])
    right = np.array([bool(r["key"]) and r["key"][0] == r["tonic"] and r["key"][1] == r["mode"]
                      for r in rows])
    return raw, right


def reliability(conf: np.ndarray, right: np.ndarray) -> list[str]:
    lines = ["| confidence | songs | mean confidence | accuracy |", "|---|---|---|---|"]
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0001]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            lines.append(f"| {lo:.1f}–{min(hi, 1):.1f} | {sel.sum()} | {conf[sel].mean():.2f} | "
                         f"{right[sel].mean():.0%} |")
    lines += ["", "| keep songs with confidence ≥ | kept | accuracy of kept |", "|---|---|---|"]
    for t in (0.0, 0.5, 0.7, 0.8, 0.9):
        sel = conf >= t
        if sel.any():
            lines.append(f"| {t:.1f} | {sel.mean():.0%} | {right[sel].mean():.0%} |")
    return lines


def report(rows: list[dict], cal: dict, label: str) -> list[str]:
    m = cal["tempo_level"]
    coef, intercept = np.asarray(m["coef"]), float(m["intercept"])
    chosen = [choose(r, coef, intercept) for r in rows]
    exact = np.array([near(c[0], r["bpm"]) for c, r in zip(chosen, rows, strict=True)])
    octave = np.array([any(near(c[0], r["bpm"] * f) for f in (1, 2, 0.5))
                       for c, r in zip(chosen, rows, strict=True)])
    alt = np.array([e or (c[1] is not None and near(c[1], r["bpm"]))
                    for e, c, r in zip(exact, chosen, rows, strict=True)])
    b_exact = np.array([near(r["base"], r["bpm"]) for r in rows])
    b_oct = np.array([any(near(r["base"], r["bpm"] * f) for f in (1, 2, 0.5)) for r in rows])
    lines = [f"{label}: {len(rows)} pieces", "",
             "| tempo | exact (±4 %) | ±4 % allowing ×2, ×½ | exact or the runner-up |",
             "|---|---|---|---|",
             f"| before (autocorrelation + prior + octave check) | {b_exact.mean():.1%} | "
             f"{b_oct.mean():.1%} | – |",
             f"| level model | {exact.mean():.1%} | {octave.mean():.1%} | {alt.mean():.1%} |",
             "", "| meter | n | before exact | before ×2/×½ | exact | ×2/×½ |",
             "|---|---|---|---|---|---|"]
    for meter in METERS:
        sel = np.array([r["meter"] == meter for r in rows])
        if sel.any():
            lines.append(f"| {meter} | {sel.sum()} | {b_exact[sel].mean():.0%} | "
                         f"{b_oct[sel].mean():.0%} | {exact[sel].mean():.0%} | "
                         f"{octave[sel].mean():.0%} |")
    tconf = np.array([calibration.calibrated("tempo_confidence", c[2]) if c[0] else 0.0
                      for c in chosen])  # rendered pieces all have a clear pulse (no cap)
    raw, kright = key_evidence(rows)
    kconf = np.array([calibration.calibrated("key_confidence", v) for v in raw])
    lines += ["", f"tempo_confidence against exact tempo ({label}):", "",
              *reliability(tconf, exact), "",
              f"key_confidence against exact key ({label}; key exact {kright.mean():.1%}):", "",
              *reliability(kconf, kright)]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=90, help="pieces per set")
    ap.add_argument("--tune-seed", type=int, default=1)
    ap.add_argument("--heldout-seed", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="fit on the tuning set and write "
                    "calibration.json")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "songlens-meters")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    tune = measure(args.tune_seed, args.n, args.cache)
    held = measure(args.heldout_seed, args.n, args.cache)
    if args.write:
        cal = fit(tune)
        cal["fitted_on"] = (f"benchmarks/tempo_key_fit.py --n {args.n} --tune-seed "
                            f"{args.tune_seed} (rendered tuning pieces)")
        calibration.CALIBRATION_PATH.write_text(json.dumps(cal, indent=1) + "\n")
        calibration._data.cache_clear()
    cal = calibration._data()
    print("\n".join(report(tune, cal, f"tuning set (seed {args.tune_seed})") + [""]
                    + report(held, cal, f"held-out set (seed {args.heldout_seed})")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
