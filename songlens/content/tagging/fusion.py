"""Tag fusion: evidence from audio, lyrics, comments and metadata → scored tags per dimension.

Per tag, each source's evidence is combined by noisy-OR (``s = 1 − Π(1 − p)``), weighted by the
source's reliability, and the sources again by noisy-OR::

    score = 1 − Π_sources (1 − w_source · s_source)

Noisy-OR treats each cue as an independent chance that the tag applies: more agreeing cues raise
the score with diminishing returns, one strong cue is enough, and a source can never contribute
more than its weight (lyrics mentioning 夜 a hundred times stay ≤ 0.75). Weights, per-dimension
thresholds and ``top_k`` live in ``configs/fusion.yaml``.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from songlens.content.taxonomy import DIMENSIONS, Evidence, TagScore
from songlens.errors import ConfigError, UnknownTag

if TYPE_CHECKING:
    from songlens.content.resources import Resources

__all__ = ["FusionConfig", "fuse_tags", "load_fusion_config", "metadata_evidence"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionConfig:
    weights: dict[str, float]
    thresholds: dict[str, float]
    top_k: dict[str, int]
    evidence_per_tag: int = 3


def load_fusion_config(path: str | Path) -> FusionConfig:
    """Read a fusion config (``configs/fusion.yaml``)."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        weights = {str(k): float(v) for k, v in (spec.get("weights") or {}).items()}
        thresholds = {d: float((spec.get("thresholds") or {}).get(d, 0.3)) for d in DIMENSIONS}
        top_k = {d: int((spec.get("top_k") or {}).get(d, 3)) for d in DIMENSIONS}
        per_tag = int(spec.get("evidence_per_tag", 3))
    except (OSError, yaml.YAMLError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"cannot read fusion config {str(path)!r}: {exc}") from exc
    bad = {k: v for k, v in weights.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ConfigError(f"fusion weights must be in [0, 1], got {bad}")
    return FusionConfig(weights, thresholds, top_k, per_tag)


def fuse_tags(evidence: Sequence[Evidence], *, resources: Resources,
              weights: Mapping[str, float] | None = None,
              threshold: float | Mapping[str, float] | None = None,
              top_k: int | Mapping[str, int] | None = None,
              config: FusionConfig | None = None) -> dict[str, list[TagScore]]:
    """Fuse evidence into sorted tag scores, one list per dimension.

    Parameters
    ----------
    evidence : sequence of Evidence
        From any source; tags may be canonical labels or English aliases. Evidence naming an
        unknown dimension/tag, or with a non-finite ``p``, is skipped (logged).
    resources : Resources
        Its taxonomy names the tags; its fusion config gives weights, thresholds and ``top_k``.
    weights : mapping, optional
        Per-source weights overriding the config (``default`` for unlisted sources).
    threshold, top_k : number or per-dimension mapping, optional
        Override the config's per-dimension values.
    config : FusionConfig, optional
        Replaces ``resources.fusion`` (a config under test or study).

    Returns
    -------
    dict
        ``{dimension: [TagScore, ...]}`` for all five dimensions (possibly empty lists), each
        sorted by score (ties by tag), with each TagScore's strongest evidence as dicts
        (``Evidence.to_dict()``: source, cue, p and details).
    """
    tax = resources.taxonomy
    cfg = config or resources.fusion
    w = dict(cfg.weights)
    if weights:
        w.update({str(k): float(v) for k, v in weights.items()})
    default_w = w.get("default", 0.5)
    thr = _per_dim(threshold, cfg.thresholds, float)
    k = _per_dim(top_k, cfg.top_k, int)

    miss: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    kept: dict[tuple[str, str], list[tuple[float, Evidence]]] = defaultdict(list)
    for ev in evidence:
        try:
            dim = tax.dimension(ev.dimension)
            tag = tax.canonical(dim, ev.tag)
        except UnknownTag:  # a tagger's mapping is off: skip it, keep the batch going
            logger.warning("skipping evidence for unknown tag %r/%r from %s", ev.dimension,
                           ev.tag, ev.source)
            continue
        p = float(ev.p)
        if not math.isfinite(p) or p <= 0.0:
            continue
        p = min(1.0, p)
        src = miss[(dim, tag)]
        src[ev.source] = src.get(ev.source, 1.0) * (1.0 - p)
        kept[(dim, tag)].append((w.get(ev.source, default_w) * p, ev))

    out: dict[str, list[TagScore]] = {d: [] for d in DIMENSIONS}
    for (dim, tag), per_source in miss.items():
        remain = 1.0
        for source, m in per_source.items():
            remain *= 1.0 - w.get(source, default_w) * (1.0 - m)
        score = 1.0 - remain
        if score < thr[dim] or score <= 0.0:
            continue
        evs = sorted(kept[(dim, tag)], key=lambda x: (-x[0], x[1].source, x[1].cue))
        out[dim].append(TagScore(tag, tax.en[(dim, tag)], float(score),
                                 [e.to_dict() for _, e in evs[:cfg.evidence_per_tag]]))
    for dim in DIMENSIONS:
        out[dim].sort(key=lambda t: (-t.score, t.tag))
        del out[dim][k[dim]:]
    return out


def _per_dim(value, base: Mapping[str, object], cast) -> dict[str, object]:
    if value is None:
        return dict(base)
    if isinstance(value, Mapping):
        return {d: cast(value.get(d, base[d])) for d in DIMENSIONS}
    return {d: cast(value) for d in DIMENSIONS}


# Title / album cues: (pattern, dimension, tag, p). Patterns match case-insensitively.
_META_RULES: tuple[tuple[str, str, str, float], ...] = (
    (r"原声带|原声|ost\b|o\.s\.t|soundtrack|电视剧|影视剧|电影|网剧|插曲|主题曲|片尾曲|片头曲|"
     r"推广曲|宣传曲|印象曲|角色曲|from the motion picture|original motion picture|"
     r"original (?:tv|television) (?:series )?soundtrack", "theme", "影视原声", 0.9),
    (r"\blive\b|现场|演唱会|音乐会|巡演|concert", "theme", "综艺", 0.45),
    (r"好声音|我是歌手|歌手20\d\d|蒙面唱将|明日之子|创造营|青春有你|乐队的夏天|中国新说唱|声入人心|"
     r"天赐的声音|时光音乐会|跨年晚会|春晚|综艺|第[一二三四五六七八九十\d]+期",
     "theme", "综艺", 0.9),
    (r"翻唱|翻自|\bcover\b|cover[:：]|\(cover|（cover", "theme", "翻唱", 0.9),
    (r"remix|\bdj\b|dj版|电音版|混音版|\bmix\b|bootleg|rework", "style", "电子", 0.55),
    (r"\bdj\b|dj版|舞曲版|club mix|dance mix|extended mix|慢摇", "style", "舞曲", 0.6),
    (r"伴奏|instrumental|\binst\.?\b|纯音乐|off vocal|karaoke|无人声|钢琴曲|轻音乐版", "theme",
     "器乐", 0.85),
    (r"伴奏|instrumental|\binst\.?\b|off vocal|纯音乐|无人声", "language", "纯音乐", 0.7),
    (r"钢琴版|钢琴曲|piano ver|piano version|\bpiano\b|钢琴", "theme", "钢琴", 0.85),
    (r"吉他版|吉他曲|guitar ver|guitar version|acoustic ver|木吉他|指弹|\bguitar\b", "theme",
     "吉他", 0.85),
    (r"动画|动漫|アニメ|\banime\b|\btv ?size\b|番剧|剧场版|二次元|vocaloid|初音",
     "theme", "ACG", 0.75),
    (r"游戏|\bgame\b|手游|网游|王者荣耀|英雄联盟|原神|league of legends", "theme", "游戏", 0.8),
    (r"儿歌|童谣|儿童|幼儿|宝宝|摇篮曲|lullaby|nursery|胎教", "theme", "儿童", 0.85),
    (r"校歌|毕业|青春纪念", "theme", "校园", 0.7),
    (r"抖音|快手|网络(?:歌曲|红歌)|dj热播", "theme", "网络歌曲", 0.7),
    (r"经典|金曲|精选|greatest hits|best of|老歌", "theme", "经典", 0.6),
    (r"粤语版|粤语|广东话|cantonese", "language", "粤语", 0.7),
    (r"国语版|普通话版|mandarin ver", "language", "华语", 0.7),
    (r"日语版|japanese ver", "language", "日语", 0.7),
    (r"韩语版|korean ver", "language", "韩语", 0.7),
    (r"英文版|english ver", "language", "欧美", 0.7),
    (r"古风|国风|中国风", "style", "古风", 0.8),
    (r"民谣|\bfolk\b", "style", "民谣", 0.7),
    (r"说唱|\brap\b|hip.?hop|嘻哈|freestyle|cypher", "style", "说唱", 0.75),
    (r"摇滚|\brock\b", "style", "摇滚", 0.7),
    (r"爵士|\bjazz\b", "style", "爵士", 0.75),
    (r"交响|协奏曲|奏鸣曲|symphony|concerto|sonata|op\.\s?\d+|bwv\s?\d+|k\.\s?\d{2,3}", "style",
     "古典", 0.75),
    (r"助眠|睡前|晚安|night|midnight|深夜", "scene", "夜晚", 0.5),
    (r"学习|自习|study|专注|focus", "scene", "学习", 0.6),
    (r"健身|跑步|workout|gym|running|运动", "scene", "运动", 0.6),
    (r"驾车|开车|车载|driving|drive", "scene", "驾车", 0.55),
)
_META_RE = tuple((re.compile(p, re.I), d, t, w) for p, d, t, w in _META_RULES)


def metadata_evidence(title: str | None, album: str | None = None,
                      artist: str | None = None) -> list[Evidence]:
    """Evidence from title and album cues (source ``metadata``).

    Recognises soundtrack markers (原声带, OST, 电视剧, 插曲, 主题曲 …), live/variety-show
    versions (Live, 现场, show names), covers (翻唱, Cover), remixes and DJ edits, instrumentals
    and karaoke (伴奏, Instrumental), instrument versions (钢琴版, 吉他版), anime/game tie-ins
    and language versions (粤语版 …). The artist name is only used for a few cues (e.g. an
    artist called "… Orchestra"); it is returned in ``detail`` for explanation.
    """
    out: list[Evidence] = []
    seen: set[tuple[str, str]] = set()
    for field_name, text, factor in (("title", title, 1.0), ("album", album, 0.8)):
        if not text:
            continue
        for rx, dim, tag, p in _META_RE:
            m = rx.search(text)
            if m and (dim, tag) not in seen:
                seen.add((dim, tag))
                out.append(Evidence(dim, tag, "metadata", m.group(0).strip(), p * factor,
                                    {"field": field_name}))
    if artist and re.search(r"orchestra|乐团|交响|philharmonic|quartet|四重奏", artist, re.I):
        if ("style", "古典") not in seen:
            out.append(Evidence("style", "古典", "metadata", artist[:40], 0.5,
                                {"field": "artist"}))
    return out
