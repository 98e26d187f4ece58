"""Fit and measure the tempo level model and the key/tempo confidence calibrations.

Rendered General MIDI pieces (:mod:`meters`: 4/4, fast 4/4, 3/4, 6/8 and 12/8; the tapped beat
known by construction), one set of ``--n`` pieces per seed. ``--tune-seeds`` (default 1–6)
are the tuning sets: the level model (a conditional logit, softmax across each piece's candidate
levels, L2-penalised) and the Platt calibrations are fitted on them, and design choices are judged
by leave-one-seed-out cross-validation over them (``--cv``). ``--heldout-seed`` (default 7) is
only measured, never fitted on. ``--compare`` reports an older calibration.json on the same
pieces (its features are picked by name). Every number comes from the package's own functions
(:func:`estimate_tempo`, :func:`tempo_levels`, :func:`rank_levels`, :func:`estimate_key` on
:func:`chroma_summary`), applied to the same onset envelopes :func:`audio_features` computes.

    python benchmarks/tempo_key_fit.py --n 90 --cv --write   # CV, fit, write, report tuning
    python benchmarks/tempo_key_fit.py --n 90 --heldout      # + the held-out seed, once

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
    confidence_evidence,
    estimate_tempo,
    rank_levels,
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


def envelopes(seed: int, n: int, cache: Path) -> list[dict]:
    """Per piece: truth, the onset envelopes (all bands, bass band), fps and the key estimate;
    rendered and measured once per seed, then read from ``cache`` (the level features are
    computed from these on every run, so changing them needs no re-rendering)."""
    path = cache / f"envelopes-{seed}-{n}.json"
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
        key = estimate_key(chroma=chroma_summary(y=a.y, sr=a.sr), profile="albrecht")
        rows.append({"name": piece.name, "meter": piece.meter, "bpm": piece.bpm,
                     "tonic": piece.tonic, "mode": piece.mode, "fps": fps,
                     "env": env.astype(np.float32).tolist(),
                     "low": low.astype(np.float32).tolist(),
                     "key": None if key is None else [key[0], key[1], key[2]]})
        print(f"rendered {seed} {piece.name}", flush=True)
    path.write_text(json.dumps(rows))
    return rows


def measure(seed: int, n: int, cache: Path) -> list[dict]:
    """Per piece: truth, the baseline tempo, the level candidates' features, the key evidence."""
    rows = []
    for r in envelopes(seed, n, cache):
        env, low = np.asarray(r["env"]), np.asarray(r["low"])
        fps = r["fps"]
        base, *_ = estimate_tempo(onset_env=env, fps=fps)
        cands = tempo_levels(onset_env=env, low_env=low, fps=fps, bpm=base) if base > 0 else []
        rows.append({k: r[k] for k in ("name", "meter", "bpm", "tonic", "mode", "key")}
                    | {"seed": seed, "base": base, "cands": [[b, x.tolist()] for b, x in cands]})
    return rows


def near(est: float, ref: float, tol: float = 0.04) -> bool:
    return abs(est - ref) <= tol * ref


LAMBDA = 1e-3  # L2 penalty on the standardised weights (chosen by leave-one-seed-out CV)


def _model(cal: dict) -> tuple[list[int], np.ndarray, float]:
    """Columns of :data:`LEVEL_FEATURES` the model ``cal`` uses (by name), its weights and
    intercept."""
    m = cal["tempo_level"]
    return ([LEVEL_FEATURES.index(f) for f in m["features"]], np.asarray(m["coef"]),
            float(m["intercept"]))


def choose(row: dict, cols: list[int], coef: np.ndarray, intercept: float
           ) -> tuple[float, float | None, float]:
    """(bpm, runner-up, chosen level's softmax probability), as :func:`choose_tempo` decides."""
    if not row["cands"]:
        return 0.0, None, 0.0
    X = np.array([x for _, x in row["cands"]])[:, cols]
    return rank_levels([b for b, _ in row["cands"]], X, coef, intercept)


def fit_level_model(rows: list[dict], lam: float = LAMBDA) -> tuple[np.ndarray, float]:
    """Conditional logit: maximise the softmax probability of each piece's right candidate
    (pieces where no candidate is right, or only one candidate, teach nothing and are left out);
    L2 penalty ``lam`` on the weights of the standardised features. Returns weights on the raw
    features and the intercept (which a softmax ignores: the standardisation's offset)."""
    from scipy.optimize import minimize

    data = []
    for r in rows:
        y = np.array([near(b, r["bpm"]) for b, _ in r["cands"]])
        if y.any() and y.size > 1:
            data.append((np.array([x for _, x in r["cands"]]), y))
    X = np.vstack([d[0] for d in data])
    mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
    Xs = [(x - mu) / sd for x, _ in data]
    ys = [y for _, y in data]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in zip(Xs, ys, strict=True):
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            py = p[y].sum()
            total -= math.log(max(py, 1e-300))
            grad -= x.T @ (p * y / max(py, 1e-300) - p)
        n = len(Xs)
        return total / n + lam * float(w @ w), grad / n + 2 * lam * w

    w = minimize(loss, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B").x
    coef = w / sd
    return coef, float(-np.sum(coef * mu))


def cross_validate(by_seed: dict[int, list[dict]]) -> list[dict]:
    """Leave one tuning seed out: each seed's pieces chosen by a model fitted on the others.
    Returns the rows with their out-of-fold choice (bpm, runner-up, probability)."""
    out = []
    for s, rows in by_seed.items():
        coef, intercept = fit_level_model([r for t, rs in by_seed.items() if t != s for r in rs])
        cols = list(range(len(LEVEL_FEATURES)))
        for r in rows:
            b, alt, p1 = choose(r, cols, coef, intercept)
            out.append(r | {"chosen": (b, alt, p1)})
    return out


def fit(by_seed: dict[int, list[dict]]) -> dict:
    from sklearn.linear_model import LogisticRegression

    rows = [r for rs in by_seed.values() for r in rs]
    coef, intercept = fit_level_model(rows)
    out = {"tempo_level": {"kind": "conditional logit (softmax across candidate levels)",
                           "features": list(LEVEL_FEATURES), "coef": coef.tolist(),
                           "intercept": intercept}}
    # the confidence is calibrated on out-of-fold probabilities (in-sample ones are too sure)
    if len(by_seed) > 1:
        cv_rows = cross_validate(by_seed)
    else:
        cv_rows = [r | {"chosen": choose(r, list(range(len(LEVEL_FEATURES))), coef, intercept)}
                   for r in rows]
    raw = np.array([confidence_evidence(r["chosen"][2]) for r in cv_rows])
    ok = np.array([near(r["chosen"][0], r["bpm"]) for r in cv_rows])
    for name, x, right in (("tempo_confidence", raw, ok),
                           ("key_confidence", *key_evidence(rows))):
        # Platt scaling: smooth and monotone, never a flat 0 or 1 from a handful of pieces
        platt = LogisticRegression(C=1.0).fit(x[:, None], right)
        out[name] = {"platt": [float(platt.coef_[0][0]), float(platt.intercept_[0])]}
    out["tempo_confidence"]["evidence"] = "log-odds of the chosen level's softmax probability"
    return out


def key_evidence(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    raw = np.array([r["key"][2] if r["key"] else 0.0 for r in rows])
    right = np.array([bool(r["key"]) and r["key"][0] == r["tonic"] and r["key"][1] == r["mode"]
                      for r in rows])
    return raw, right


def reliability(conf: np.ndarray, right: np.ndarray) -> list[str]:
    lines = ["| confidence | songs | mean confidence | accuracy |", "|---|---|---|---|"]
    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0001]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            lines.append(f"| {lo:.2f}–{min(hi, 1):.2f} | {sel.sum()} | {conf[sel].mean():.2f} | "
                         f"{right[sel].mean():.0%} |")
    lines += ["", "| keep songs with confidence ≥ | kept | accuracy of kept |", "|---|---|---|"]
    for t in (0.0, 0.5, 0.7, 0.8, 0.9, 0.95):
        sel = conf >= t
        if sel.any():
            lines.append(f"| {t:.2f} | {sel.mean():.0%} | {right[sel].mean():.0%} |")
    return lines


def scores(rows: list[dict], chosen: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    exact = np.array([near(c[0], r["bpm"]) for c, r in zip(chosen, rows, strict=True)])
    octave = np.array([any(near(c[0], r["bpm"] * f) for f in (1, 2, 0.5))
                       for c, r in zip(chosen, rows, strict=True)])
    alt = np.array([e or (c[1] is not None and near(c[1], r["bpm"]))
                    for e, c, r in zip(exact, chosen, rows, strict=True)])
    return exact, octave, alt


def old_confidence(rows: list[dict], cal: dict) -> np.ndarray:
    """The confidence an older calibration.json gives (v1: Platt on the chosen level's share of
    the independent logistic scores)."""
    cols, coef, intercept = _model(cal)
    a, b = cal["tempo_confidence"]["platt"]
    out = []
    for r in rows:
        if not r["cands"]:
            out.append(0.0)
            continue
        z = np.array([x for _, x in r["cands"]])[:, cols] @ coef + intercept
        p = 1 / (1 + np.exp(-z))
        share = p.max() / p.sum()
        out.append(1 / (1 + math.exp(-(a * share + b))))
    return np.array(out)


def report(rows: list[dict], cal: dict, label: str, chosen: list[tuple] | None = None,
           before: dict | None = None, key: bool = True) -> list[str]:
    """Tempo (and key) figures of ``rows``; ``chosen`` given: out-of-fold choices (CV);
    ``before``: an older calibration.json reported on the same pieces."""
    if chosen is None:
        chosen = [choose(r, *_model(cal)) for r in rows]
    exact, octave, alt = scores(rows, chosen)
    b_exact = np.array([near(r["base"], r["bpm"]) for r in rows])
    b_oct = np.array([any(near(r["base"], r["bpm"] * f) for f in (1, 2, 0.5)) for r in rows])
    lines = [f"**{label}**: {len(rows)} pieces", "",
             "| tempo | exact (±4 %) | ±4 % allowing ×2, ×½ | exact or the runner-up |",
             "|---|---|---|---|",
             f"| autocorrelation + prior + octave check (no level model) | {b_exact.mean():.1%} | "
             f"{b_oct.mean():.1%} | – |"]
    if before is not None:
        old = [choose(r, *_model(before)) for r in rows]
        o_exact, o_oct, o_alt = scores(rows, old)
        lines.append(f"| before: level model v1 (logistic, 12 features, seed 1) | "
                     f"{o_exact.mean():.1%} | {o_oct.mean():.1%} | {o_alt.mean():.1%} |")
    lines += [f"| after: level model v2 (conditional logit, {len(LEVEL_FEATURES)} features) | "
              f"{exact.mean():.1%} | {octave.mean():.1%} | {alt.mean():.1%} |", ""]
    if before is not None:
        lines += ["| meter | n | before exact | before ×2/×½ | after exact | after ×2/×½ | "
                  "after exact or runner-up |", "|---|---|---|---|---|---|---|"]
    else:
        lines += ["| meter | n | exact | ×2/×½ | exact or runner-up |", "|---|---|---|---|---|"]
    for meter in METERS:
        sel = np.array([r["meter"] == meter for r in rows])
        if sel.any():
            prev = (f"{o_exact[sel].mean():.0%} | {o_oct[sel].mean():.0%} | "
                    if before is not None else "")
            lines.append(f"| {meter} | {sel.sum()} | {prev}{exact[sel].mean():.0%} | "
                         f"{octave[sel].mean():.0%} | {alt[sel].mean():.0%} |")
    misses = [f"{r['name']} (truth {r['bpm']:g}: chose {c[0]:.1f}, runner-up "
              f"{c[1] or 0:.1f}, p {c[2]:.2f})"
              for r, c, e in zip(rows, chosen, exact, strict=True) if not e]
    lines += ["", f"misses ({len(misses)}): " + ("; ".join(misses) or "none")]
    tconf = np.array([calibration.calibrated("tempo_confidence", confidence_evidence(c[2]))
                      if c[0] else 0.0 for c in chosen])  # rendered: all have a clear pulse
    lines += ["", f"tempo_confidence against exact tempo ({label}):", "",
              *reliability(tconf, exact)]
    if before is not None:
        lines += ["", f"before (v1) tempo_confidence against v1's exact tempo ({label}):", "",
                  *reliability(old_confidence(rows, before), o_exact)]
    if key:
        raw, kright = key_evidence(rows)
        kconf = np.array([calibration.calibrated("key_confidence", v) for v in raw])
        lines += ["", f"key_confidence against exact key ({label}; key exact "
                  f"{kright.mean():.1%}):", "", *reliability(kconf, kright)]
        if before is not None:
            a, b = before["key_confidence"]["platt"]
            kold = 1 / (1 + np.exp(-(a * raw + b)))
            lines += ["", f"before (v1 calibration) key_confidence ({label}):", "",
                      *reliability(kold, kright)]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=90, help="pieces per set")
    ap.add_argument("--tune-seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    ap.add_argument("--heldout-seed", type=int, default=7)
    ap.add_argument("--heldout", action="store_true", help="also measure the held-out seed "
                    "(only once the design is frozen)")
    ap.add_argument("--cv", action="store_true", help="leave-one-tuning-seed-out figures")
    ap.add_argument("--write", action="store_true", help="fit on the tuning sets and write "
                    "calibration.json")
    ap.add_argument("--compare", type=Path, default=None, help="an older calibration.json, "
                    "reported on the same pieces")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "songlens-meters")
    args = ap.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    before = json.loads(args.compare.read_text()) if args.compare else None
    by_seed = {s: measure(s, args.n, args.cache) for s in args.tune_seeds}
    tune = [r for rs in by_seed.values() for r in rs]
    seeds = " ".join(map(str, args.tune_seeds))
    if args.write:
        cal = fit(by_seed)
        cal["fitted_on"] = (f"benchmarks/tempo_key_fit.py --n {args.n} --tune-seeds {seeds} "
                            f"(rendered tuning pieces)")
        calibration.CALIBRATION_PATH.write_text(json.dumps(cal, indent=1) + "\n")
        calibration._data.cache_clear()
    cal = calibration._data()
    out: list[str] = []
    if args.cv and len(by_seed) > 1:
        # out-of-fold level choices; the confidence's Platt curve is the stored one, which was
        # fitted on these same out-of-fold probabilities
        cv_rows = cross_validate(by_seed)
        out += report(cv_rows, cal, f"tuning seeds {seeds}, leave-one-seed-out CV",
                      chosen=[r["chosen"] for r in cv_rows], before=before, key=False) + [""]
    out += report(tune, cal, f"tuning seeds {seeds} (in-sample)", before=before)
    if args.heldout:
        if args.heldout_seed in args.tune_seeds:
            sys.exit("the held-out seed is a tuning seed")
        held = measure(args.heldout_seed, args.n, args.cache)
        out += ["", *report(held, cal, f"HELD-OUT seed {args.heldout_seed}", before=before)]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
