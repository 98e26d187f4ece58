"""Zero-shot tags from comments and lyric lines: the dense text model against tag descriptions,
combined with the lexicon.

``configs/tag_descriptions.yaml`` gives every tag a few short descriptions in Chinese and
English (and, per dimension, "background" texts about none of the tags). Each text — a comment or
a lyric line — is embedded once; per tag it gets four numbers:

* ``lexicon``: the strongest lexicon cue of the tag in the text (0 if none or negated),
* ``cosine``: its best cosine with the tag's descriptions,
* ``margin``: that cosine minus the best of the dimension's other tags,
* ``background``: that cosine minus the best background cosine,

and a logistic combination of them (plus ``lexicon × cosine``, so that a cue can count for less
where the text around it is about something else: 钢琴烤漆 is a paint finish, not a piano) gives the
probability ``q`` that a reader would tag the text so. Weights, per-dimension intercepts and the
operating point are fitted on labelled texts for one text model (``configs/text_tags.yaml``,
written by ``scripts/calibrate_text_tags.py``).

A song's texts are pooled like the lexicon's: a text votes for a tag when ``q ≥ vote``, with its
weight (likes and boilerplate discount for comments, repetitions for lyric lines), and the
support ``s`` of the tag gives ``p = (1 − e^(−s/scale)) · (1 − e^(−20·s/total))`` — many agreeing
comments count, one among hundreds hardly. ``p`` is scaled per dimension so that one text alone
crosses the fusion threshold exactly at the calibrated operating point ``q*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from songlens.content.taxonomy import DIMENSIONS, Evidence, Taxonomy
from songlens.errors import ConfigError, UnknownTag

if TYPE_CHECKING:  # content.text imports this module (through .dense): no import at run time
    from songlens.content.text.lexicon import CueHit

__all__ = ["FEATURES", "TagDescriptions", "TextTagCalibration", "TextTagger",
           "lexicon_matrix", "load_tag_descriptions", "load_text_tag_calibration",
           "zero_shot_evidence"]

#: The logistic's inputs, in order (then one intercept per dimension).
FEATURES = ("lexicon", "cosine", "margin", "background", "lexicon_x_cosine")


@dataclass(frozen=True)
class TagDescriptions:
    """``tags``: dimension → canonical tag → descriptions; ``background``: dimension → texts
    about none of them."""

    tags: dict[str, dict[str, tuple[str, ...]]]
    background: dict[str, tuple[str, ...]] = field(default_factory=dict)


def load_tag_descriptions(path: str | Path, *, taxonomy: Taxonomy) -> TagDescriptions:
    """Read ``configs/tag_descriptions.yaml``; every tag named must be in ``taxonomy`` and every
    listed dimension must describe all its tags."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        dims = spec["dimensions"]
        shared = tuple(str(x) for x in spec.get("background") or ())
        tags: dict[str, dict[str, tuple[str, ...]]] = {}
        background: dict[str, tuple[str, ...]] = {}
        for dim, d in dims.items():
            if dim not in DIMENSIONS:
                raise ConfigError(f"tag descriptions: unknown dimension {dim!r}; allowed: "
                                  f"{', '.join(DIMENSIONS)}")
            tags[dim] = {taxonomy.canonical(dim, str(t)): tuple(str(x) for x in texts)
                         for t, texts in (d.get("tags") or {}).items()}
            background[dim] = tuple(str(x) for x in d.get("background") or ()) + shared
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"cannot read tag descriptions {str(path)!r}: {exc}") from exc
    except UnknownTag as exc:
        raise ConfigError(f"tag descriptions: {exc.message}") from exc
    for dim, per_tag in tags.items():
        missing = [t for t in taxonomy.tags[dim] if not per_tag.get(t)]
        if missing:
            raise ConfigError(f"tag descriptions {dim}: no description for {missing}")
    return TagDescriptions(tags, background)


@dataclass(frozen=True)
class TextTagCalibration:
    """The fitted combination for one text model (see the module docstring); ``sentiment`` holds
    the sentiment head's combination with the lexicon (``combine``, ``band``) when fitted."""

    model: str
    weights: dict[str, float]
    intercepts: dict[str, float]
    operating_point: dict[str, float]
    vote: float = 0.25
    scale: float = 0.5
    sentiment: dict[str, Any] = field(default_factory=dict)
    about: dict[str, Any] = field(default_factory=dict)

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(self.intercepts)


def load_text_tag_calibration(path: str | Path, model: str) -> TextTagCalibration | None:
    """The calibration of ``model`` in ``path`` (``configs/text_tags.yaml``), or ``None`` when the
    file has none for it (then tags come from the lexicon alone)."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        entry = (spec.get("models") or {}).get(model)
        if not entry:
            return None
        weights = {k: float(entry["weights"][k]) for k in FEATURES}
        return TextTagCalibration(
            model=model, weights=weights,
            intercepts={str(d): float(v) for d, v in entry["intercepts"].items()},
            operating_point={str(d): float(v) for d, v in entry["operating_point"].items()},
            vote=float(entry.get("vote", 0.25)), scale=float(entry.get("scale", 0.5)),
            sentiment=dict(entry.get("sentiment") or {}), about=dict(entry.get("about") or {}))
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"cannot read text tag calibration {str(path)!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class TextMatch:
    """One text's view of one dimension: ``cos`` (tags × texts) is the best cosine per tag,
    ``best`` the index of the description that gave it, ``background`` the best background
    cosine per text."""

    tags: tuple[str, ...]
    cos: np.ndarray
    best: np.ndarray
    background: np.ndarray


class TextTagger:
    """Scores texts against the tag descriptions with a dense text model.

    Parameters
    ----------
    descriptions : TagDescriptions
    encode : callable
        Texts → unit vectors, shape ``(len(texts), dim)``: the text model's symmetric role
        (``TextEncoder.encode_queries``). The descriptions are embedded once, here.
    model : str
        The text model's name (kept in the evidence).
    calibration : TextTagCalibration, optional
        Without it :meth:`features` works (for calibration) but :meth:`probabilities` does not.
    """

    def __init__(self, descriptions: TagDescriptions, *,
                 encode: Callable[[list[str]], np.ndarray], model: str,
                 calibration: TextTagCalibration | None = None) -> None:
        self.descriptions = descriptions
        self.model = model
        self.calibration = calibration
        self.dims = calibration.dimensions if calibration else tuple(descriptions.tags)
        missing = [d for d in self.dims if d not in descriptions.tags]
        if missing:
            raise ConfigError(f"text tag calibration of {model!r} scores {missing}, which the tag "
                              f"descriptions do not describe; described: {list(descriptions.tags)}")
        texts: list[str] = []
        self._rows: dict[str, tuple[list[str], list[list[int]], list[int]]] = {}
        for dim in self.dims:
            tags = list(descriptions.tags[dim])
            groups = []
            for tag in tags:
                said = descriptions.tags[dim][tag]
                groups.append(list(range(len(texts), len(texts) + len(said))))
                texts.extend(said)
            said = descriptions.background.get(dim, ())
            bg = list(range(len(texts), len(texts) + len(said)))
            texts.extend(said)
            self._rows[dim] = (tags, groups, bg)
        self._texts = texts
        self._matrix = np.asarray(encode(texts), dtype=np.float32)

    def match(self, vectors: np.ndarray) -> dict[str, TextMatch]:
        """Per dimension, how ``vectors`` (unit rows, one per text) match the descriptions."""
        sims = self._matrix @ np.asarray(vectors, dtype=np.float32).T  # descriptions × texts
        out = {}
        for dim, (tags, groups, bg) in self._rows.items():
            cos = np.stack([sims[g].max(axis=0) for g in groups])
            best = np.stack([np.asarray(g)[sims[g].argmax(axis=0)] for g in groups])
            back = sims[bg].max(axis=0) if bg else np.full(sims.shape[1], -1.0, np.float32)
            out[dim] = TextMatch(tuple(tags), cos, best, back)
        return out

    def description(self, index: int) -> str:
        return self._texts[int(index)]

    @staticmethod
    def features(match: TextMatch, lexicon: np.ndarray) -> np.ndarray:
        """``(tags, texts, len(FEATURES))``; ``lexicon`` is ``(tags, texts)`` cue weights."""
        cos = match.cos
        n = cos.shape[0]
        other = np.empty_like(cos)
        for i in range(n):
            rest = np.delete(cos, i, axis=0)
            other[i] = rest.max(axis=0) if n > 1 else -1.0
        return np.stack([lexicon, cos, cos - other, cos - match.background[None, :],
                         lexicon * cos], axis=-1)

    def probabilities(self, match: TextMatch, lexicon: np.ndarray, dim: str) -> np.ndarray:
        """Calibrated probability per (tag, text) that a reader would tag the text so."""
        if self.calibration is None:
            raise ConfigError(f"no text tag calibration for text model {self.model!r}")
        cal = self.calibration
        w = np.array([cal.weights[k] for k in FEATURES], dtype=np.float64)
        z = self.features(match, lexicon).astype(np.float64) @ w + cal.intercepts[dim]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def lexicon_matrix(tags: Sequence[str], dim: str, hits: Sequence[Sequence[CueHit]]
                   ) -> np.ndarray:
    """``(tags, texts)``: the strongest non-negated cue weight of each tag in each text."""
    index = {t: i for i, t in enumerate(tags)}
    out = np.zeros((len(tags), len(hits)), dtype=np.float32)
    for j, text_hits in enumerate(hits):
        for h in text_hits:
            c = h.cue
            if c.dimension == dim and not h.negated and c.tag in index:
                out[index[c.tag], j] = max(out[index[c.tag], j], c.weight)
    return out


def best_cue(tag: str, dim: str, hits: Sequence[CueHit]) -> str | None:
    """The strongest non-negated cue of ``tag`` among ``hits``."""
    cues = [h.cue for h in hits if h.cue.dimension == dim and h.cue.tag == tag and not h.negated]
    return max(cues, key=lambda c: c.weight).text if cues else None


def zero_shot_evidence(tagger: TextTagger, vectors: np.ndarray, texts: Sequence[str],
                       hits: Sequence[Sequence[CueHit]], weights: Sequence[float], *,
                       source: str, thresholds: Mapping[str, float],
                       source_weight: float) -> list[Evidence]:
    """Evidence (source ``source``) for the calibrated dimensions from many weighted texts.

    ``vectors``, ``texts``, ``hits`` and ``weights`` are parallel: each text's unit vector, text,
    lexicon hits and weight. ``thresholds`` (the fusion thresholds) and ``source_weight`` (the
    fusion weight of ``source``) place the calibrated operating point on the fusion threshold.
    """
    cal = tagger.calibration
    if cal is None or not len(texts):
        return []
    w = np.asarray(weights, dtype=np.float64)
    total = max(float(w.sum()), 1.0)
    out: list[Evidence] = []
    for dim, match in tagger.match(vectors).items():
        lex = lexicon_matrix(match.tags, dim, hits)
        q = tagger.probabilities(match, lex, dim)
        q_star = cal.operating_point[dim]
        vote = q >= min(cal.vote, q_star)
        support = (q * vote) @ w
        gain = thresholds[dim] / max(source_weight * _pooled(q_star, 1.0, cal.scale), 1e-6)
        for i, tag in enumerate(match.tags):
            s = float(support[i])
            if s <= 0:
                continue
            p = min(1.0, gain * _pooled(s, total, cal.scale))
            j = int(np.argmax(q[i] * w))
            cue = best_cue(tag, dim, hits[j])
            detail: dict[str, Any] = {
                "by": "text model + lexicon" if cue else "text model", "model": tagger.model,
                "description": tagger.description(match.best[i, j]),
                "cosine": round(float(match.cos[i, j]), 3), "q": round(float(q[i, j]), 3),
                "count": int(vote[i].sum()), "example": texts[j][:60]}
            out.append(Evidence(dim, tag, source, cue or detail["description"], p, detail))
    return out


def _pooled(s: float, total: float, scale: float) -> float:
    """``(1 − e^(−s/scale)) · (1 − e^(−20·s/total))`` (one text of weight 1: ``s = q``,
    ``total = 1``)."""
    return (1.0 - math.exp(-s / scale)) * (1.0 - math.exp(-20.0 * s / total))
