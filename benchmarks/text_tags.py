"""Benchmark: tags and sentiment from comments and lyric lines, lexicon alone vs text model +
lexicon, on the held-out split of the blind labels.

Usage::

    python benchmarks/text_tags.py [--model use-multilingual-v3] [--split heldout]

Data: ``benchmarks/data/text_labels/`` (in-domain music comments and lyric lines labelled blind
for scene, emotion, theme and sentiment; sources, licences and the split in its README). The
zero-shot tagger and the sentiment combination were calibrated on the ``calibration`` split only
(``scripts/calibrate_text_tags.py``); this reports the ``heldout`` split. Each item is analysed
as the pipeline does: a comment as one comment with no likes, a lyric excerpt as lyrics; its tags
are ``fuse_tags`` over the text evidence with the shipped thresholds (``configs/fusion.yaml``).
"Before" is the lexicon alone (also at threshold 0.2, as earlier reports did); "after" the text
model's zero-shot tags combined with the lexicon. Sentiment: the valence of the analysis, read as
negative / neutral / positive with the neutral band calibrated for each method on the
calibration split.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "benchmarks" / "data" / "text_labels"
RESULTS = ROOT / "benchmarks" / "results" / "text_tags.md"
DIMS = ("scene", "emotion", "theme")
SENTIMENT = {"negative": -1, "neutral": 0, "positive": 1}


def load_split(split: str) -> list[dict]:
    labels = {r["id"]: r for r in (json.loads(x) for x in (DATA / "labels.jsonl").read_text(
        "utf-8").splitlines() if x.strip())}
    items = [json.loads(x) for x in (DATA / "items.jsonl").read_text("utf-8").splitlines()
             if x.strip()]
    return [{**i, **labels[i["id"]]} for i in items if i["split"] == split and i["id"] in labels]


def analyse(item: dict, res, dense, threshold=None):
    from songlens.content.tagging.fusion import fuse_tags
    from songlens.content.text.analyse import analyse_text

    kw = {"lyrics": item["text"]} if item["kind"] == "lyric" else \
        {"comments": [(item["text"], 0)]}
    a = analyse_text(title="", artist="", album=None, resources=res, dense=dense, **kw)
    tags = fuse_tags(a.evidence, resources=res, threshold=threshold)
    return a, tags


def groups(item: dict) -> tuple[str, ...]:
    """``all``, the kind, and for comments whether they are MuChin's annotation-platform song
    descriptions (far more tag-rich than comment-section text: the labels' README)."""
    if item["kind"] != "comment":
        return ("all", item["kind"])
    desc = "amat_desc_json" in item.get("source", "")
    return ("all", "comment", "comment: MuChin descriptions" if desc else "comment: others")


GROUPS = ("all", "comment", "comment: MuChin descriptions", "comment: others", "lyric")


def score(items, res, dense, threshold=None, band=0.0):
    stats = {d: defaultdict(lambda: [0, 0, 0]) for d in DIMS}  # group -> [tp, pred, gold]
    senti = defaultdict(lambda: [0, 0])  # group -> [correct, n]
    examples = []
    for it in items:
        a, tags = analyse(it, res, dense, threshold)
        for group in groups(it):
            for d in DIMS:
                pred = {t.tag for t in tags[d]}
                gold = set(it[d])
                rec = stats[d][group]
                rec[0] += len(pred & gold)
                rec[1] += len(pred)
                rec[2] += len(gold)
            v = a.sentiment
            cls = 1 if v >= band else -1 if v <= -band else 0
            if abs(v) < band:
                cls = 0
            senti[group][0] += cls == SENTIMENT[it["sentiment"]]
            senti[group][1] += 1
            if SENTIMENT[it["sentiment"]] != 0:
                polar = senti[f"{group} (pos/neg items: sign)"]
                polar[0] += (v > 0) == (SENTIMENT[it["sentiment"]] > 0)
                polar[1] += 1
        if dense is not None and len(examples) < 12:
            fired = [(d, t.tag, t.evidence[0]) for d in DIMS for t in tags[d] if t.evidence]
            if fired:
                examples.append((it["text"][:50], fired))
    return stats, senti, examples


def _pr(rec) -> str:
    tp, n, g = rec
    p = f"{tp / n:.1%}" if n else "–"
    r = f"{tp / g:.1%}" if g else "–"
    return f"{p} | {r} | {n} | {g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="use-multilingual-v3")
    ap.add_argument("--split", default="heldout", choices=("heldout", "calibration"))
    args = ap.parse_args()
    from songlens.catalog.text_model import build_dense_text
    from songlens.content.resources import Resources
    from songlens.embeddings.models import build_text_encoder, text_model_name
    from songlens.settings import Settings

    res = Resources()
    name = text_model_name(args.model)
    encoder = build_text_encoder(Settings(text={"model": name}))
    dense = build_dense_text(encoder, res)
    if dense is None:
        sys.exit(f"no calibration for {name} in configs/text_tags.yaml")
    cal = dense.tagger.calibration
    items = load_split(args.split)
    lex_band = float(cal.sentiment.get("lexicon_band", 0.0))
    band = float(cal.sentiment.get("band", 0.0)) if dense.sentiment else lex_band
    runs = [("lexicon, shipped thresholds (before)", score(items, res, None, band=lex_band)),
            ("lexicon, threshold 0.2 (before)", score(items, res, None, 0.2, band=lex_band)),
            (f"{name} + lexicon, shipped thresholds (after)", score(items, res, dense,
                                                                   band=band))]
    counts = defaultdict(int)
    for it in items:
        counts[it["kind"]] += 1
    out = ["# songlens text tags and sentiment on blind labels", "",
           f"Command: `python benchmarks/text_tags.py --model {name} --split {args.split}`  ",
           "Machine: 2-core x86_64 CPU (Intel Xeon), shared with other workers  ",
           f"Date: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}  ",
           f"Python {platform.python_version()}", "",
           f"Split **{args.split}**: {len(items)} items ({counts['comment']} comments, "
           f"{counts['lyric']} lyric excerpts) of benchmarks/data/text_labels; calibration on "
           f"the calibration split ({cal.about.get('items')} items, "
           f"{cal.about.get('calibrated')}). Operating points q*: "
           + ", ".join(f"{d} {v}" for d, v in cal.operating_point.items()) + ".", ""]
    for label, (stats, _, _) in runs:
        out += [f"## Tags: {label}", "",
                "| dimension | items | precision | recall | predictions | gold tags |",
                "|---|---|---|---|---|---|"]
        for d in DIMS:
            for group in GROUPS:
                out.append(f"| {d} | {group} | {_pr(stats[d][group])} |")
        out.append("")
    out += ["## Sentiment (3 classes; and sign on positive/negative items)", "",
            "| method | items | accuracy | n |", "|---|---|---|---|"]
    for label, (_, senti, _) in (runs[0], runs[2]):
        for group, (ok, n) in sorted(senti.items()):
            out.append(f"| {label.split(',')[0]} | {group} | {ok / n:.1%} | {n} |")
    out += ["", f"Neutral bands (calibrated): lexicon {lex_band}, model + lexicon {band}.", "",
            "## Examples of evidence (after)", ""]
    for text, fired in runs[2][1][2]:
        out.append(f"- {text}: " + "; ".join(
            f"{d}/{t} ← {e.get('cue')} ({e.get('by', e.get('source'))}, q {e.get('q', '–')})"
            for d, t, e in fired))
    path = RESULTS if name == "use-multilingual-v3" else RESULTS.with_name(f"text_tags_{name}.md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", "utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
