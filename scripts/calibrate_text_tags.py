"""Calibrate the zero-shot text tagger and the sentiment combination on the calibration split.

Usage::

    python scripts/calibrate_text_tags.py --model use-multilingual-v3

Reads ``benchmarks/data/text_labels/{items,labels}.jsonl`` (blind labels of music comments and
lyric lines; see their README) and uses ONLY the items whose ``split`` is ``calibration``; the
``heldout`` items are for ``benchmarks/text_tags.py`` and are never read here. The tagger also
sees the 80 blind-labelled reviews of ``benchmarks/data/tag_labels.jsonl`` (off-topic
comments where a lexicon word is not a tag: 钢琴烤漆, 游戏本), which are therefore no longer
test data. Writes the model's entry of ``configs/text_tags.yaml``:

* tagger: an L2 logistic regression over (text, tag) pairs of the scene, emotion and theme
  dimensions with the features of :data:`songlens.content.tagging.text_zero_shot.FEATURES` and
  one intercept per dimension (features standardised, L2 chosen by 5-fold cross-validation);
  then per dimension the operating point ``q*``, the lowest probability whose predictions reach
  the target precision (scene 80 %, emotion 70 %, theme 60 %) with at least
  ``MIN_PREDICTIONS`` predictions, or, where no point reaches it, the one with the best F0.5 —
  judged on out-of-fold probabilities of the calibration texts;
* sentiment: a logistic regression of positive vs negative texts on (head logit, lexicon
  valence), then the neutral band that maximises three-class accuracy; the lexicon alone gets
  its own best band too (for the benchmark's "before").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from songlens.content.resources import Resources  # noqa: E402
from songlens.content.tagging.text_zero_shot import (  # noqa: E402
    FEATURES,
    TextTagger,
    lexicon_matrix,
    load_tag_descriptions,
)
from songlens.content.text.clean import clean_comment  # noqa: E402
from songlens.content.text.lexicon import match_line  # noqa: E402
from songlens.content.text.sentiment import weighted_valence  # noqa: E402
from songlens.content.text.sentiment_head import SentimentHead  # noqa: E402
from songlens.embeddings.models import build_text_encoder, text_model_name  # noqa: E402
from songlens.settings import Settings  # noqa: E402

LABELS = ROOT / "benchmarks" / "data" / "text_labels"
OUT = ROOT / "configs" / "text_tags.yaml"
DIMS = ("scene", "emotion", "theme")
TARGET = {"scene": 0.8, "emotion": 0.7, "theme": 0.6}
MIN_PREDICTIONS = 3
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
SENTIMENT = {"negative": -1, "neutral": 0, "positive": 1}


def load_split(split: str) -> list[dict]:
    """Items of one split joined with their labels."""
    labels = {r["id"]: r for r in map(json.loads, (LABELS / "labels.jsonl").read_text(
        "utf-8").splitlines()) if r}
    items = [json.loads(x) for x in (LABELS / "items.jsonl").read_text("utf-8").splitlines()
             if x.strip()]
    return [{**i, **labels[i["id"]]} for i in items if i["split"] == split and i["id"] in labels]


def off_topic() -> list[dict]:
    """``benchmarks/data/tag_labels.jsonl``: 80 reviews labelled blind, standing in for the
    off-topic comments of a comment section (钢琴烤漆, 游戏本 …), where a lexicon word is no tag."""
    path = ROOT / "benchmarks" / "data" / "tag_labels.jsonl"
    rows = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
    return [{"id": f"tag_labels-{i}", "kind": "comment", **r} for i, r in enumerate(rows)]


def text_features(res: Resources, items: list[dict], encode):
    """Cleaned texts, their lexicon hits, token lists and unit vectors."""
    texts = [clean_comment(i["text"], t2s=res.t2s) or i["text"] for i in items]
    segs = [res.tokenizer.segment(t) for t in texts]
    hits = [match_line(t, s, lexicon=res.lexicon) for t, s in zip(texts, segs, strict=True)]
    vecs = np.vstack([encode(texts[i:i + 128]) for i in range(0, len(texts), 128)])
    return texts, segs, hits, vecs


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float,
                 unpenalised: int = 0) -> np.ndarray:
    """L2 logistic regression by Newton's method (the last ``unpenalised`` columns free)."""
    w = np.zeros(x.shape[1])
    reg = l2 * np.eye(len(w))
    for k in range(1, unpenalised + 1):
        reg[-k, -k] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        g = x.T @ (p - y) / len(y) + reg @ w
        h = (x * (p * (1 - p))[:, None]).T @ x / len(y) + reg + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def _text_index(tags, n_texts: int) -> np.ndarray:
    """The text of each (tag, text) pair in ``features(...).reshape(-1, k)`` order."""
    return np.tile(np.arange(n_texts), len(tags))


def operating_point(q: np.ndarray, y: np.ndarray, target: float) -> tuple[float, dict]:
    """The lowest threshold reaching ``target`` precision with ``MIN_PREDICTIONS``, else the best
    F0.5; with the calibration precision and recall there."""
    best = None
    fallback = None
    for t in sorted(set(np.round(q, 4).tolist()), reverse=True):
        pred = q >= t
        n, tp = int(pred.sum()), int((pred & (y == 1)).sum())
        if n == 0:
            continue
        prec, rec = tp / n, tp / max(1, int(y.sum()))
        if n >= MIN_PREDICTIONS and prec >= target:
            best = (t, {"precision": round(prec, 3), "recall": round(rec, 3), "predictions": n})
        f = (1.25 * prec * rec / (0.25 * prec + rec)) if prec + rec else 0.0
        if n >= MIN_PREDICTIONS and (fallback is None or f > fallback[0]):
            fallback = (f, t, {"precision": round(prec, 3), "recall": round(rec, 3),
                               "predictions": n, "target_missed": True})
    if best:
        return best
    return fallback[1], fallback[2]


def calibrate_tags(res: Resources, tagger: TextTagger, items, hits, vecs) -> dict:
    matches = tagger.match(vecs)
    xs, ys, dim_col = [], [], []
    for d, dim in enumerate(DIMS):
        m = matches[dim]
        lex = lexicon_matrix(m.tags, dim, hits)
        f = tagger.features(m, lex)  # tags × texts × features
        gold = np.array([[t in it[dim] for it in items] for t in m.tags], dtype=float)
        xs.append(f.reshape(-1, f.shape[-1]))
        ys.append(gold.reshape(-1))
        dim_col += [d] * gold.size
    x = np.vstack(xs)
    y = np.concatenate(ys)
    onehot = np.eye(len(DIMS))[np.array(dim_col)]
    # standardised features (so the L2 penalty treats them alike), L2 chosen by 5-fold
    # cross-validated log-loss over the calibration texts, then weights back on the raw scale
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    xz = np.hstack([(x - mu) / sd, onehot])
    text_of = np.concatenate([_text_index(matches[dim].tags, len(items)) for dim in DIMS])
    fold = text_of % 5
    losses = {}
    for l2 in L2_GRID:
        loss = 0.0
        for k in range(5):
            wk = fit_logistic(xz[fold != k], y[fold != k], l2=l2, unpenalised=len(DIMS))
            pk = np.clip(1 / (1 + np.exp(-(xz[fold == k] @ wk))), 1e-6, 1 - 1e-6)
            loss -= float(np.sum(y[fold == k] * np.log(pk) + (1 - y[fold == k]) * np.log(1 - pk)))
        losses[l2] = loss / len(y)
    l2 = min(losses, key=losses.get)
    print("cross-validated log-loss by L2:", {k: round(v, 4) for k, v in losses.items()})
    wz = fit_logistic(xz, y, l2=l2, unpenalised=len(DIMS))
    w_raw = wz[:len(FEATURES)] / sd
    shift = float(np.sum(wz[:len(FEATURES)] * mu / sd))
    weights = {k: round(float(v), 4) for k, v in zip(FEATURES, w_raw, strict=True)}
    intercepts = {dim: round(float(wz[len(FEATURES) + d] - shift), 4)
                  for d, dim in enumerate(DIMS)}
    # operating points from out-of-fold probabilities (each text scored by a fit without it), so
    # the thresholds are not chosen on probabilities the texts themselves shaped
    q = np.empty(len(y))
    for k in range(5):
        wk = fit_logistic(xz[fold != k], y[fold != k], l2=l2, unpenalised=len(DIMS))
        q[fold == k] = 1 / (1 + np.exp(-(xz[fold == k] @ wk)))
    col = np.array(dim_col)
    points, fit = {}, {}
    for d, dim in enumerate(DIMS):
        t, stats = operating_point(q[col == d], y[col == d], TARGET[dim])
        points[dim] = round(float(t), 4)
        fit[dim] = {**stats, "gold": int(y[col == d].sum()), "target": TARGET[dim]}
    print("tag weights", weights, "intercepts", intercepts)
    print("operating points", points, fit)
    return {"weights": weights, "intercepts": intercepts, "operating_point": points,
            "vote": 0.25, "scale": 0.5, "l2": l2, "calibration_fit": fit}


def best_band(v: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The neutral band (|v| < band → 0) with the best three-class accuracy on ``y``."""
    best = (0.0, -1.0)
    for band in np.round(np.arange(0.0, 0.96, 0.02), 2):
        pred = np.where(v >= band, 1, np.where(v <= -band, -1, 0))
        pred = np.where(np.abs(v) < band, 0, pred)
        acc = float(np.mean(pred == y))
        if acc > best[1]:
            best = (float(band), acc)
    return best


def calibrate_sentiment(res: Resources, head: SentimentHead, items, texts, segs, vecs) -> dict:
    y = np.array([SENTIMENT[i["sentiment"]] for i in items])
    lex = np.array([weighted_valence([(t, s, 1.0)], lexicon=res.sentiment)
                    for t, s in zip(texts, segs, strict=True)])
    h = head.logit(vecs)
    polar = y != 0
    x = np.stack([h, lex, np.ones_like(h)], axis=1)
    w = fit_logistic(x[polar], (y[polar] == 1).astype(float), l2=1e-3, unpenalised=1)
    combined = 2 / (1 + np.exp(-(x @ w))) - 1
    band, acc = best_band(combined, y)
    lex_band, lex_acc = best_band(lex, y)
    print(f"sentiment: combine {np.round(w, 3).tolist()}, band {band} (calibration accuracy "
          f"{acc:.3f}); lexicon alone band {lex_band} ({lex_acc:.3f})")
    return {"combine": {"head": round(float(w[0]), 4), "lexicon": round(float(w[1]), 4),
                        "bias": round(float(w[2]), 4)},
            "band": band, "lexicon_band": lex_band,
            "calibration_accuracy": round(acc, 3),
            "lexicon_calibration_accuracy": round(lex_acc, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="use-multilingual-v3", help="text.model")
    args = ap.parse_args()
    name = text_model_name(args.model)
    res = Resources()
    encoder = build_text_encoder(Settings(text={"model": name}))
    items = load_split("calibration")
    extra = off_topic()
    texts, segs, hits, vecs = text_features(res, items + extra, encoder.encode_queries)
    desc = load_tag_descriptions(res.config_dir / "tag_descriptions.yaml", taxonomy=res.taxonomy)
    tagger = TextTagger(desc, encode=encoder.encode_queries, model=name)
    entry = calibrate_tags(res, tagger, items + extra, hits, vecs)
    n = len(items)
    head = SentimentHead.load(name)
    if head is not None:
        entry["sentiment"] = calibrate_sentiment(res, head, items, texts[:n], segs[:n], vecs[:n])
    else:  # no head for this model: only the lexicon's neutral band (for the benchmark)
        y = np.array([SENTIMENT[i["sentiment"]] for i in items])
        lex = np.array([weighted_valence([(t, s, 1.0)], lexicon=res.sentiment)
                        for t, s in zip(texts[:n], segs[:n], strict=True)])
        band, acc = best_band(lex, y)
        entry["sentiment"] = {"lexicon_band": band, "lexicon_calibration_accuracy": round(acc, 3)}
    entry["about"] = {"calibrated": dt.date.today().isoformat(), "items": n,
                      "off_topic_items": len(extra), "split": "calibration",
                      "data": "benchmarks/data/text_labels (+ tag_labels.jsonl for tags)"}
    spec = yaml.safe_load(OUT.read_text("utf-8")) if OUT.exists() else {}
    spec = spec or {}
    spec.setdefault("models", {})[name] = entry
    head_text = "\n".join([
        "# Zero-shot text tags and sentiment, calibrated per text model on the calibration",
        "# split of benchmarks/data/text_labels by scripts/calibrate_text_tags.py (see its",
        "# docstring and songlens/content/tagging/text_zero_shot.py). A text model without an",
        "# entry here: lexicon tags and lexicon sentiment only.", ""])
    OUT.write_text(head_text + yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), "utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
