"""Language of lyrics from script statistics and a Cantonese-vs-Mandarin model.

Scripts are counted in rough syllable units (a Han character, a kana, a Hangul syllable, and about
1.3 per Latin word), so a Chinese verse with an English hook is scored in proportion to how much of
each is sung. Han characters go to Japanese when kana are present (kanji), otherwise to Chinese,
which is split between 华语 and 粤语 by the probability that the Chinese is written Cantonese.

That probability is a logistic regression over three sums: naive-Bayes log-likelihood ratios of
Han characters and character pairs (``cantonese_ngrams.json``, learnt from Cantonese and Mandarin
text shipped in PyPI packages by ``scripts/build_cantonese_model.py``), and the weight of the
hand-written markers below (嘅 唔 咗 佢 哋 …, weighted by how sure each is). Characters are folded
to simplified before the n-grams are looked up, so traditional script is not evidence by itself
(Taiwan Mandarin is 华语); a line with no evidence either way reads as 华语.

Limits: Cantopop lyrics are often written in standard written Chinese (書面語) with no colloquial
word; such lyrics read as 华语 here, and the song's audio, artist or catalogue data must tell.
Romanised lyrics (pinyin, romaji) read as 欧美.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from songlens.content.taxonomy import Evidence
from songlens.content.text.scripts import HAN_CHAR, HAN_RUN, HANGUL_CHAR, KANA_CHAR, LATIN

__all__ = ["CantoneseModel", "LanguageResult", "cantonese_probability", "catalogue_language",
           "detect_language", "language_evidence", "line_languages"]

#: the 语种 tag of songs without a voice
INSTRUMENTAL = "纯音乐"

_LATIN_WORD = re.compile(f"[{LATIN}]+(?:'[A-Za-z]+)?")
_LATIN_SYLLABLES_PER_WORD = 1.3

# Written-Cantonese markers and their weights (traditional and simplified forms).
# Characters that are also ordinary Mandarin (啦, 埋 in 埋葬, 喇 in 喇叭) are left out or weak.
_MARKERS: dict[str, float] = {
    "嘅": 1.0, "咗": 1.0, "哋": 1.0, "嘢": 1.0, "喺": 1.0, "嚟": 1.0, "冇": 1.0, "佢": 1.0,
    "啲": 1.0, "睇": 1.0, "嗰": 1.0, "噉": 1.0, "攞": 1.0, "諗": 1.0, "谂": 1.0, "揾": 1.0,
    "搵": 1.0, "瞓": 1.0, "嘥": 1.0, "冚": 1.0, "唔": 1.0, "啱": 1.0, "嘞": 0.8, "囉": 0.8,
    "咁": 0.8, "乜": 0.7, "咩": 0.5, "畀": 0.6, "俾": 0.4, "咪": 0.3, "喎": 1.0, "嘛": 0.1,
    "咋": 0.5, "嘈": 0.4, "靚": 0.7, "靓": 0.5, "攰": 1.0, "癐": 1.0, "揸": 0.8, "郁": 0.2,
    "氹": 0.6, "嘆": 0.2, "咧": 0.3, "嘩": 0.2, "啫": 1.0, "㗎": 1.0, "係": 0.7,
    "囖": 1.0, "吖": 0.8, "噃": 1.0, "唧": 0.8, "嗱": 0.8, "啩": 1.0, "嚿": 1.0, "噏": 1.0,
    "冧": 0.8, "嬲": 1.0, "撳": 1.0, "㩒": 1.0, "餸": 1.0, "揦": 1.0, "晒": 0.2, "喇": 0.3,
    "咸": 0.1, "佬": 0.4, "乸": 1.0, "孖": 0.8, "咭": 0.6, "嘟": 0.2, "睬": 0.2, "凼": 0.8,
}
# Multi-character words (simplified and traditional), counted once per occurrence.
_MARKER_WORDS: dict[str, float] = {
    "而家": 1.0, "鍾意": 1.0, "钟意": 1.0, "點解": 1.0, "点解": 1.0, "點樣": 1.0, "点样": 1.0,
    "邊度": 1.0, "边度": 1.0, "邊個": 1.0, "边个": 1.0, "唔該": 0.5, "今日": 0.3, "琴日": 1.0,
    "聽日": 1.0, "听日": 1.0, "尋日": 1.0, "寻日": 1.0, "識得": 0.6, "识得": 0.6, "仲有": 0.5,
    "乜嘢": 0.5, "咁樣": 0.5, "咁样": 0.5, "企喺": 0.5, "返屋企": 1.0, "屋企": 1.0,
    "老豆": 1.0, "老母": 0.3, "睇戲": 0.5, "佢哋": 0.3, "我哋": 0.3, "你哋": 0.3,
    "是但": 1.0, "求其": 0.7, "細佬": 1.0, "细佬": 1.0, "家姐": 0.7, "好彩": 1.0,
    "有冇": 0.5, "成日": 0.8, "頭先": 1.0, "头先": 1.0, "陣間": 1.0, "阵间": 1.0, "得滯": 1.0,
    "得滞": 1.0, "少少": 0.6, "細個": 1.0, "细个": 1.0, "雀仔": 1.0, "放工": 0.8, "定係": 0.3,
    "呢個": 1.0, "呢个": 1.0, "呢條": 1.0, "呢条": 1.0, "呢份": 1.0, "呢度": 1.0, "呢排": 1.0,
    "呢次": 0.8, "呢間": 1.0, "呢间": 1.0, "呢種": 0.8, "呢种": 0.8, "呢位": 0.8, "呢隻": 1.0,
    "去邊": 1.0, "去边": 1.0, "蚊雞": 1.0, "幾多": 0.8, "几多": 0.8, "點算": 1.0,
    "点算": 1.0, "唔係": 0.3, "搞掂": 1.0, "搞定": 0.1, "返工": 1.0, "收工": 0.3, "買餸": 0.5,
    "好過": 0.4, "好过": 0.4, "起身": 0.3, "鬼佬": 1.0, "師奶": 1.0, "师奶": 1.0,
}
# CJK Extension B+ characters in running text are almost always written Cantonese (𠻺 𡁵 𡃉 …).
_EXT_B = re.compile(r"[\U00020000-\U0002fa1f]")
# 係 inside Mandarin words (關係 "relation", 聯係) is not a marker.
_XI_MANDARIN = re.compile(r"[關关聯联干幹]係|係數|係统|係統")
_MARKER_CHARS = re.compile("[" + "".join(_MARKERS) + "]")
_MARKER_WORDS_RE = re.compile("|".join(sorted(_MARKER_WORDS, key=len, reverse=True)))
#: The shipped n-gram model (``scripts/build_cantonese_model.py`` writes it).
MODEL_PATH = Path(__file__).with_name("cantonese_ngrams.json")


# What catalogues write for a song's language (ISO 639-1/-2/-3, BCP 47, names), lower-cased.
# zh-HK / zh-MO are Cantonese: that is what music catalogues mean by them.
_CATALOGUE_CODES: dict[str, tuple[str, ...]] = {
    "华语": ("zh", "zho", "chi", "cmn", "zh-cn", "zh-sg", "zh-tw", "zh-hans", "zh-hant", "cmn-hans",
           "cmn-hant", "chinese", "mandarin", "华语", "華語", "国语", "國語", "普通话", "普通話",
           "中文", "汉语", "漢語"),
    "粤语": ("yue", "zh-hk", "zh-mo", "zh-yue", "yue-hant", "yue-hans", "cantonese", "粤语", "粵語",
           "广东话", "廣東話", "白话", "白話"),
    "欧美": ("en", "eng", "fr", "fra", "fre", "de", "deu", "ger", "es", "spa", "it", "ita", "pt",
           "por", "nl", "nld", "dut", "sv", "swe", "da", "dan", "no", "nor", "nb", "nob", "fi",
           "fin", "english", "french", "german", "spanish", "italian", "portuguese", "欧美",
           "歐美", "英语", "英語", "英文"),
    "日语": ("ja", "jpn", "japanese", "日语", "日語", "日文"),
    "韩语": ("ko", "kor", "korean", "韩语", "韓語", "韩文", "韓文"),
    "纯音乐": ("zxx", "instrumental", "纯音乐", "純音樂", "无人声", "無人聲"),
}
_CATALOGUE = {code: tag for tag, codes in _CATALOGUE_CODES.items() for code in codes}


def catalogue_language(value: str | None) -> str | None:
    """The 语种 tag for a language a catalogue or a file tag gives, or ``None`` if unknown.

    Accepts the tags themselves, ISO 639 codes (``zh``, ``cmn``, ``yue``, ``eng``, ``zxx`` …),
    BCP 47 tags (``zh-Hant-HK`` → 粤语, ``zh-TW`` → 华语, ``en-US`` → 欧美) and common names
    (Mandarin, Cantonese, 国语 …).
    """
    if not value:
        return None
    v = value.strip().lower().replace("_", "-")
    if v in _CATALOGUE:
        return _CATALOGUE[v]
    parts = [p for p in v.split("-") if p]
    if len(parts) >= 2 and f"{parts[0]}-{parts[-1]}" in _CATALOGUE:  # zh-hant-hk → zh-hk
        return _CATALOGUE[f"{parts[0]}-{parts[-1]}"]
    return _CATALOGUE.get(parts[0]) if parts else None


@dataclass(frozen=True, slots=True)
class LanguageResult:
    """``primary`` language tag (or ``None`` when there is nothing to go on) and all scores.

    ``scores`` hold the tags with a share above 0.05, summing to about 1, highest first; they
    always describe the lyrics. ``source`` says what decided ``primary``: ``lyrics``,
    ``catalogue`` (the language the client or the file's tags gave), or ``title`` / ``album``
    (a version marker such as 粤语版).
    """

    primary: str | None
    scores: dict[str, float] = field(default_factory=dict)
    source: str = "lyrics"

    def to_dict(self) -> dict[str, object]:
        return {"primary": self.primary, "scores": dict(self.scores), "source": self.source}


def _marker_weight(text: str) -> float:
    """Summed weight of the written-Cantonese markers in ``text`` (never negative)."""
    weight = sum(_MARKERS[c] for c in _MARKER_CHARS.findall(text))
    weight -= 0.7 * len(_XI_MANDARIN.findall(text))
    weight += sum(_MARKER_WORDS[w] for w in _MARKER_WORDS_RE.findall(text))
    weight += 0.8 * len(_EXT_B.findall(text))
    return max(0.0, weight)


@dataclass(frozen=True)
class CantoneseModel:
    """Cantonese-vs-Mandarin model: Han n-gram log-likelihood ratios, the hand-written markers and,
    optionally, a third-party language identifier's ``yue``/``zh`` ratio (``langid``), combined by
    logistic ``weights`` (unigram sum, bigram sum, marker weight, [langid ratio,] bias);
    :meth:`load` reads the shipped one."""

    uni: dict[str, float]
    bi: dict[str, float]
    t2s: dict[int, str]
    weights: tuple[float, ...]
    langid: Callable[[str], float] | None = None

    def features(self, text: str) -> tuple[float, ...]:
        su = sb = 0.0
        uni, bi = self.uni, self.bi
        for run in HAN_RUN.findall(text.translate(self.t2s)):
            su += sum(uni.get(c, 0.0) for c in run)
            sb += sum(bi.get(run[i:i + 2], 0.0) for i in range(len(run) - 1))
        if self.langid is None:
            return su, sb, _marker_weight(text)
        return su, sb, _marker_weight(text), self.langid(text)

    def logit(self, text: str) -> float:
        x = self.features(text)
        return sum(w * v for w, v in zip(self.weights, x, strict=False)) + self.weights[-1]

    def with_langid(self, backend: str, *, fold: bool, weights: Sequence[float]
                    ) -> CantoneseModel:
        """The same n-grams and markers plus a language identifier's ``yue``/``zh`` ratio
        (:class:`~songlens.content.text.langid.LangidEvidence`) with ``weights`` (unigram,
        bigram, markers, identifier, bias), e.g. the ``langid_checked`` fit of the model file."""
        from songlens.content.text.langid import LangidEvidence

        if len(weights) != 5:
            raise ValueError(f"with_langid needs 5 weights (unigram, bigram, markers, identifier, "
                             f"bias), got {list(weights)}")
        t2s = self.t2s
        fold_fn = (lambda text: text.translate(t2s)) if fold else None
        return replace(self, weights=tuple(weights),
                       langid=LangidEvidence(backend, fold=fold_fn))

    @classmethod
    def load(cls, path: str | Path = MODEL_PATH) -> CantoneseModel:
        """Read a model file written by ``scripts/build_cantonese_model.py`` (with the language
        identifier it names under ``langid``, if the build found one worth adding)."""
        data = json.loads(Path(path).read_text("utf-8"))
        pairs = data["t2s"]
        model = cls(uni=data["uni"], bi=data["bi"],
                    t2s=str.maketrans(dict(zip(pairs[0::2], pairs[1::2], strict=True))),
                    weights=tuple(data["weights"]))
        spec = data.get("langid")
        if spec:
            return model.with_langid(spec["backend"], fold=bool(spec.get("fold")),
                                     weights=data["weights"])
        return model


def cantonese_probability(text: str, *, model: CantoneseModel) -> float:
    """Probability that the Chinese in ``text`` is written Cantonese rather than Mandarin."""
    z = model.logit(text)
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def detect_language(text: str | None, *, cantonese: CantoneseModel,
                    audio_instrumental: float | None = None) -> LanguageResult:
    """Language tags of a lyric text.

    Parameters
    ----------
    text : str or None
        Lyrics (raw or cleaned; pass the original script, before traditional → simplified, so
        that traditional-only markers such as 係 count).
    cantonese : CantoneseModel
        Splits Chinese between 华语 and 粤语 (:meth:`CantoneseModel.load`).
    audio_instrumental : float, optional
        Probability in [0, 1] that the track has no voice, from the audio
        (:func:`songlens.content.tagging.voice.detect_voice`): the audio, not the lyrics field,
        says whether a song is instrumental.

    Returns
    -------
    LanguageResult
        ``primary`` is ``纯音乐`` when there are no lyric letters and ``audio_instrumental`` ≥ 0.5,
        ``None`` when there are no letters and the audio has a voice or says nothing (a song
        posted without lyrics whose audio has a singer is not instrumental).
    """
    text = text or ""
    han = len(HAN_CHAR.findall(text))
    kana = len(KANA_CHAR.findall(text))
    hangul = len(HANGUL_CHAR.findall(text))
    latin = len(_LATIN_WORD.findall(text)) * _LATIN_SYLLABLES_PER_WORD
    total = han + kana + hangul + latin
    if total < 1:
        if audio_instrumental is not None and audio_instrumental >= 0.5:
            return LanguageResult(INSTRUMENTAL,
                                  {INSTRUMENTAL: round(float(audio_instrumental), 4)})
        return LanguageResult(None, {})
    raw: dict[str, float] = {"日语": 0.0, "华语": 0.0, "粤语": 0.0, "韩语": hangul, "欧美": latin}
    # Japanese: kana present in meaningful proportion to Han → Han characters are kanji.
    if kana >= 2 and kana >= 0.08 * (han + kana) or (kana >= 1 and han == 0):
        raw["日语"] = kana + han
    elif han:
        canto = cantonese_probability(text, model=cantonese)
        raw["粤语"] = han * canto
        raw["华语"] = han * (1.0 - canto)
        raw["日语"] = kana
    if audio_instrumental is not None and audio_instrumental > 0.8 and total < 8:
        raw[INSTRUMENTAL] = total * audio_instrumental  # a few words over an instrumental track
    norm = sum(raw.values())
    scores = {k: round(v / norm, 4) for k, v in sorted(raw.items(), key=lambda kv: -kv[1])
              if v / norm > 0.05}
    # Script first, then which Chinese: a Chinese line with an English word is Chinese even when
    # its Han characters are split between 华语 and 粤语.
    group = dict(raw)
    chinese = group.pop("华语") + group.pop("粤语")
    primary = max(group, key=group.__getitem__) if group else None
    if chinese > 0 and (primary is None or chinese >= group[primary]):
        primary = "粤语" if raw["粤语"] > raw["华语"] else "华语"
    return LanguageResult(primary, scores)


def language_evidence(result: LanguageResult, *, voice: dict | None = None) -> list[Evidence]:
    """The 语种 evidence of a detection: each language's share of the lyrics (source ``lyrics``,
    cue ``script``), and 纯音乐 as what the audio heard (source ``audio``, cue ``no voice``,
    with the voice detector's ``voice`` details: its probability, share of patches with a voice
    and strongest cues), since it is the audio that says a song has no voice."""
    out = []
    for tag, score in result.scores.items():
        if tag == INSTRUMENTAL:
            detail = {"primary": tag == result.primary}
            if voice:
                detail |= {"voice_probability": voice.get("probability"),
                           **{k: v for k, v in (voice.get("evidence") or {}).items()
                              if k not in ("source", "cue")}}
            out.append(Evidence("language", tag, "audio", "no voice", float(score), detail))
        else:
            out.append(Evidence("language", tag, "lyrics", "script", float(score),
                                {"primary": tag == result.primary}))
    return out


def line_languages(text: str, *, cantonese: CantoneseModel, max_lines: int = 500,
                   max_chars: int = 300) -> list[dict[str, str | None]]:
    """Each line of cleaned lyrics with its language tag: ``[{"text", "language"}]``, in the
    order sung (repeats kept); ``language`` is None for a line with no letters. At most
    ``max_lines`` lines of at most ``max_chars`` characters (``…`` marks a cut)."""
    out: list[dict[str, str | None]] = []
    for line in (text or "").split("\n"):
        line = line.strip()
        if not line:
            continue
        if len(out) == max_lines:
            break
        shown = line if len(line) <= max_chars else line[:max_chars - 1] + "…"
        out.append({"text": shown,
                    "language": detect_language(line[:max_chars], cantonese=cantonese).primary})
    return out
