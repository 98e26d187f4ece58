"""One call from a song's text to everything downstream needs: language, evidence, vectors."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from songlens.content.tagging.fusion import metadata_evidence
from songlens.content.taxonomy import Evidence
from songlens.content.text.clean import clean_lyrics, normalise_unicode, to_simplified
from songlens.content.text.comments import comments_evidence, weigh_comments
from songlens.content.text.dense import DenseText, dense_analysis
from songlens.content.text.language import (
    LanguageResult,
    detect_language,
    language_evidence,
    line_languages,
)
from songlens.content.text.lexicon import aggregate_hits, match_line
from songlens.content.text.sentiment import valence_evidence, weighted_valence
from songlens.content.text.vectors import cjk_share, sparse_lyrics_vector

if TYPE_CHECKING:
    from songlens.content.resources import Resources

__all__ = ["TextAnalysis", "analyse_text"]

logger = logging.getLogger(__name__)

_DENSE_LYRICS_CHARS = 400
_DENSE_COMMENTS = 3
_DENSE_MAX_CHARS = 1000
_TITLE_FACTOR = 0.6  # lexicon cues in a title are metadata evidence at this strength


@dataclass(slots=True)
class TextAnalysis:
    """What :func:`analyse_text` found.

    ``evidence`` holds lyrics, comments, metadata and language evidence for
    :func:`songlens.content.tagging.fusion.fuse_tags`; ``tokens``/``sparse`` are the lyrics
    (and title) tokens and their sparse vector; ``dense_text`` is the text for a sentence model;
    ``sentiment`` the valence in [-1, 1]; ``cjk_share`` the CJK share of lyrics and title;
    ``lines`` the cleaned lyric lines as sung, each with its language
    (:func:`~songlens.content.text.language.line_languages`).
    """

    language: LanguageResult
    evidence: list[Evidence] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    sparse: tuple[list[int], list[float]] = field(default_factory=lambda: ([], []))
    sentiment: float = 0.0
    dense_text: str = ""
    cjk_share: float = 0.0
    lines: list[dict[str, str | None]] = field(default_factory=list)


def _mean(values: Sequence[float], weights: Sequence[float]) -> float:
    total = sum(weights)
    return float(sum(v * w for v, w in zip(values, weights, strict=True)) / total) if total else 0.0


def analyse_text(*, title: str, artist: str, album: str | None = None,
                 lyrics: str | None = None,
                 comments: Sequence[tuple[str, int]] | None = None,
                 resources: Resources,
                 audio_instrumental: float | None = None,
                 voice: dict | None = None,
                 catalogue_language: str | None = None,
                 valence_model: Callable[[Sequence[str]], Sequence[float]] | None = None,
                 dense: DenseText | None = None,
                 ) -> TextAnalysis:
    """Analyse a song's title, lyrics and comments.

    Parameters
    ----------
    title, artist, album : str
        Metadata (``album`` may be ``None``).
    lyrics : str, optional
        Raw lyrics, LRC or plain.
    comments : sequence of (text, likes), optional
    resources : Resources
        Lexicons, sentiment lexicon, tokenizer, Cantonese model and OpenCC converter.
    audio_instrumental : float, optional
        Probability that the audio has no voice, for the 纯音乐 language tag; default
        ``1 - voice["probability"]`` when ``voice`` is given.
    voice : dict, optional
        :meth:`songlens.content.tagging.voice.Voice.to_dict` of the song's audio: the 纯音乐
        evidence carries its details.
    catalogue_language : str, optional
        A 语种 tag the catalogue gives (see :func:`~songlens.content.text.language.
        catalogue_language`): it decides the primary language and becomes evidence (source
        ``metadata``); the lyrics' scores are still reported. Without it, a language-version
        marker in the title or album (粤语版, 国语版, 伴奏 …) decides.
    valence_model : callable, optional
        Texts → valences in [-1, 1] (e.g. :meth:`.sentiment_model.SentimentModel.valence`); when
        given it replaces the sentiment lexicon: lyric lines are averaged by how often they are
        sung, comments by their weight.
    dense : DenseText, optional
        The dense text model: its calibrated zero-shot tagger replaces the lexicon evidence of
        the dimensions it scores (the lexicon becomes one of its inputs and stays named in the
        evidence), and its sentiment head, combined with the lexicon, gives the valence (unless
        ``valence_model`` is given).

    Returns
    -------
    TextAnalysis
    """
    title = normalise_unicode(title or "").strip()
    artist = normalise_unicode(artist or "").strip()
    album_s = normalise_unicode(album or "").strip() or None
    tk, lexicon, t2s = resources.tokenizer, resources.lexicon, resources.t2s

    # lyrics
    cl = clean_lyrics(lyrics, t2s=t2s)
    if audio_instrumental is None and voice and voice.get("probability") is not None:
        audio_instrumental = 1.0 - float(voice["probability"])
    language = detect_language(cl.original, cantonese=resources.cantonese,
                               audio_instrumental=audio_instrumental)
    lyric_hits = []
    lyric_tokens: list[str] = []
    senti_items = []
    for line, count in zip(cl.lines, cl.counts, strict=True):
        seg = tk.segment(line)
        lyric_hits.append((match_line(line, seg, lexicon=lexicon), float(count)))
        content = tk.content_tokens(seg)
        lyric_tokens.extend(content * count)
        senti_items.append((line, seg, float(count)))
    evidence = aggregate_hits(lyric_hits, source="lyrics")

    # comments
    weighted = weigh_comments(comments, t2s=t2s)
    comment_segs = [tk.segment(c.text) for c in weighted]
    comment_hits = [match_line(c.text, s, lexicon=lexicon)
                    for c, s in zip(weighted, comment_segs, strict=True)]
    evidence += comments_evidence(weighted, comment_hits)
    da = None
    if dense is not None:
        da = dense_analysis(dense, lines=cl.lines, counts=cl.counts,
                            line_hits=[h for h, _ in lyric_hits],
                            line_tokens=[seg for _, seg, _ in senti_items], comments=weighted,
                            comment_hits=comment_hits, comment_tokens=comment_segs,
                            lexicon=resources.sentiment,
                            thresholds=resources.fusion.thresholds,
                            source_weights=resources.fusion.weights)
        evidence = [e for e in evidence if e.dimension not in da.dimensions] + da.evidence

    # metadata: explicit title/album rules, then lexicon cues in the title at reduced strength
    simple_title, _ = to_simplified(title, t2s=t2s)
    meta_rules = metadata_evidence(simple_title,
                                   to_simplified(album_s, t2s=t2s)[0] if album_s else None,
                                   artist)
    evidence += meta_rules
    # who decides the primary language: the catalogue, else a version marker in the title or
    # album (粤语版, 国语版, 伴奏 …), else the lyrics
    version = next((e for e in meta_rules if e.dimension == "language"), None)
    if catalogue_language:
        language = LanguageResult(catalogue_language, language.scores, source="catalogue")
    elif version is not None:
        language = LanguageResult(version.tag, language.scores, source=version.detail["field"])
    title_seg = tk.segment(simple_title)
    meta_tags = {(e.dimension, e.tag) for e in evidence if e.source == "metadata"}
    title_hits = match_line(simple_title, title_seg, lexicon=lexicon)
    for ev in aggregate_hits([(title_hits, 1.0)], source="metadata"):
        if (ev.dimension, ev.tag) not in meta_tags:
            evidence.append(Evidence(ev.dimension, ev.tag, "metadata", ev.cue,
                                     ev.p * _TITLE_FACTOR, {"field": "title"}))

    # language scores as evidence (lyrics; 纯音乐 from the audio), the catalogue's as metadata
    evidence += language_evidence(language, voice=voice)
    if catalogue_language:
        evidence.append(Evidence("language", catalogue_language, "metadata", "catalogue", 1.0,
                                 {"field": "language"}))

    # sentiment: lyrics and comments, each as emotion evidence of its own source
    if valence_model is not None and (cl.lines or weighted):
        by = "model"
        v = list(valence_model(list(cl.lines) + [c.text for c in weighted]))
        lyric_valence = _mean(v[:len(cl.lines)], [float(n) for n in cl.counts])
        comment_valence = _mean(v[len(cl.lines):], [c.weight for c in weighted])
    elif da is not None and da.lyric_valence is not None:
        by = "text model + lexicon"
        lyric_valence = _mean(da.lyric_valence, [float(n) for n in cl.counts[:da.n_lines]])
        comment_valence = _mean(da.comment_valence or [],
                                [c.weight for c in weighted[:da.n_comments]])
    else:
        by = "lexicon"
        senti = resources.sentiment
        lyric_valence = weighted_valence(senti_items, lexicon=senti) if senti_items else 0.0
        comment_valence = (weighted_valence(((c.text, s, c.weight) for c, s in
                                             zip(weighted, comment_segs, strict=True)),
                                            lexicon=senti)
                           if weighted else 0.0)
    if da is None or "emotion" not in da.dimensions:
        # with the zero-shot tagger reading each text's emotion, the valence (sentiment, not
        # emotion, and not calibrated against emotion labels) is no emotion evidence
        evidence += valence_evidence(lyric_valence, source="lyrics", by=by)
        evidence += valence_evidence(comment_valence, source="comments", by=by)
    if weighted and cl.lines:
        sentiment = 0.6 * lyric_valence + 0.4 * comment_valence
    else:
        sentiment = lyric_valence if cl.lines else comment_valence

    # tokens, sparse vector, keywords
    title_tokens = tk.content_tokens(title_seg)
    tokens = title_tokens + lyric_tokens
    sparse = sparse_lyrics_vector(tokens)
    kw_items: list[tuple[str, float]] = []
    for _line, seg, count in senti_items:
        kw_items.extend((t, 1.0 + math.log(count)) for t in tk.content_tokens(seg))
    for c, seg in zip(weighted, comment_segs, strict=True):
        kw_items.extend((t, 0.5 * c.weight) for t in tk.content_tokens(seg))
    keywords = tk.keywords(kw_items, top_k=10)

    dense_text = _dense_text(simple_title, artist, album_s, cl.lines,
                             [c.text for c in weighted if c.discount >= 1.0])
    share = cjk_share(" ".join([title, cl.text]))
    return TextAnalysis(language=language, evidence=evidence, keywords=keywords, tokens=tokens,
                        sparse=sparse, sentiment=float(sentiment), dense_text=dense_text,
                        cjk_share=share,
                        lines=line_languages(cl.original, cantonese=resources.cantonese))


def _dense_text(title: str, artist: str, album: str | None, lines: Sequence[str],
                comments: Sequence[str]) -> str:
    head = " - ".join(x for x in (title, artist) if x)
    if album:
        head += f" ({album})"
    parts = [head] if head else []
    excerpt: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) > _DENSE_LYRICS_CHARS:
            break
        excerpt.append(line)
        size += len(line) + 1
    if excerpt:
        parts.append(" / ".join(excerpt))
    parts.extend(comments[:_DENSE_COMMENTS])
    return "\n".join(parts)[:_DENSE_MAX_CHARS]
