"""Zero-shot taxonomy tags from a joint audio-text model (CLAP): prompts and their scoring.

``configs/clap_prompts.yaml`` names prompts per tag (or templates over the tag's English alias)
and, per dimension, optional "background" prompts of a none-of-these candidate. A track's audio
vector is scored against each dimension's candidates by a softmax of the scaled cosines; the
``top_k`` tags above chance become evidence with source ``clap``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from songlens.content.taxonomy import DIMENSIONS, Evidence, Taxonomy, config_path, load_taxonomy
from songlens.embeddings.encoders import l2_normalise
from songlens.errors import ConfigError, UnknownTag

__all__ = ["BACKGROUND", "ZeroShotPrompts", "ZeroShotTagger", "load_clap_prompts",
           "parse_clap_prompts"]


@dataclass(frozen=True)
class ZeroShotPrompts:
    """Parsed ``configs/clap_prompts.yaml``.

    ``prompts``: dimension → canonical tag → prompts; ``background``: dimension → prompts of a
    "none of these" candidate that takes part in the dimension's softmax but yields no evidence.
    """

    prompts: dict[str, dict[str, tuple[str, ...]]]
    background: dict[str, tuple[str, ...]] = field(default_factory=dict)
    top_k: int = 3


#: Marks the background candidate among a dimension's tags.
BACKGROUND = ""


def _alias(en: str) -> str:
    return en if en.isupper() else en.lower()


def parse_clap_prompts(spec: dict[str, Any], taxonomy: Taxonomy) -> ZeroShotPrompts:
    """Validate the prompts spec against the taxonomy (unknown tags are a :class:`ConfigError`)."""
    dims = spec.get("dimensions") or {}
    if not isinstance(dims, dict):
        raise ConfigError("clap_prompts: `dimensions` must be a mapping")
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    background: dict[str, tuple[str, ...]] = {}
    for dim in DIMENSIONS:
        d = dims.get(dim) or {}
        templates = [str(t) for t in d.get("templates") or ["{en} music"]]
        if any("{en}" not in t for t in templates):
            raise ConfigError(f"clap_prompts {dim}: every template needs {{en}}, got {templates}")
        try:
            skip = {taxonomy.canonical(dim, str(t)) for t in d.get("skip") or []}
            only = {taxonomy.canonical(dim, str(t)) for t in d.get("only") or []}
            special = {taxonomy.canonical(dim, str(t)): tuple(str(p) for p in ps or ())
                       for t, ps in (d.get("prompts") or {}).items()}
        except UnknownTag as exc:
            raise ConfigError(f"clap_prompts {dim}: {exc.message}") from exc
        if any(not ps for ps in special.values()):
            raise ConfigError(f"clap_prompts {dim}: a tag's prompt list is empty")
        out[dim] = {}
        for tag in taxonomy.tags[dim]:
            if tag in skip or (only and tag not in only):
                continue
            en = _alias(taxonomy.en[(dim, tag)])
            out[dim][tag] = special.get(tag) or tuple(t.format(en=en) for t in templates)
        bg = tuple(str(p) for p in d.get("background") or ())
        if bg:
            background[dim] = bg
        if out[dim] and len(out[dim]) + bool(bg) < 2:
            raise ConfigError(f"clap_prompts {dim}: a softmax over one candidate is always 1; "
                              "score two tags or more, or add `background` prompts")
    top_k = int(spec.get("top_k", 3))
    if top_k < 1:
        raise ConfigError(f"clap_prompts top_k must be >= 1, got {top_k}")
    return ZeroShotPrompts(out, background, top_k)


def load_clap_prompts(path: str | Path | None = None, *,
                      taxonomy: Taxonomy | None = None) -> ZeroShotPrompts:
    """Read and validate ``path`` (default ``configs/clap_prompts.yaml``) against ``taxonomy``
    (default: the config folder's)."""
    import yaml

    p = Path(path) if path else config_path("clap_prompts.yaml")
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read CLAP prompts {str(p)!r}: {exc}") from exc
    return parse_clap_prompts(spec, taxonomy or load_taxonomy())


class ZeroShotTagger:
    """Scores the taxonomy tags of audio vectors against prompt vectors.

    Parameters
    ----------
    prompts : ZeroShotPrompts
    encode_text : callable
        Texts → unit vectors in the audio space, shape ``(len(texts), dim)``.
    logit_scale : float
        The model's softmax temperature (CLAP's ``logit_scale_a``).
    model : str
        The encoder's name, kept in the evidence detail.
    """

    def __init__(self, prompts: ZeroShotPrompts, *,
                 encode_text: Callable[[list[str]], np.ndarray], logit_scale: float,
                 model: str) -> None:
        self.prompts = prompts
        self.logit_scale = logit_scale
        self.model = model
        self.matrix = self._encode_prompts(encode_text)

    def _encode_prompts(self, encode_text: Callable[[list[str]], np.ndarray]
                        ) -> dict[str, tuple[list[str], np.ndarray]]:
        """Per dimension: the candidates (tags, then :data:`BACKGROUND` if configured) and their
        unit prompt vectors (several prompts of one candidate: the normalised mean)."""
        prompts = self.prompts
        groups: list[tuple[str, str, tuple[str, ...]]] = []
        for dim, tags in prompts.prompts.items():
            if not tags:
                continue
            groups += [(dim, tag, ps) for tag, ps in tags.items()]
            if dim in prompts.background:
                groups.append((dim, BACKGROUND, prompts.background[dim]))
        vecs = encode_text([p for _, _, ps in groups for p in ps])
        out: dict[str, tuple[list[str], np.ndarray]] = {}
        rows: dict[str, list[np.ndarray]] = {}
        i = 0
        for dim, tag, ps in groups:
            out.setdefault(dim, ([], np.zeros(0)))[0].append(tag)
            rows.setdefault(dim, []).append(l2_normalise(vecs[i:i + len(ps)].mean(axis=0)))
            i += len(ps)
        return {dim: (names, np.stack(rows[dim])) for dim, (names, _) in out.items()}

    def score(self, vector: np.ndarray) -> tuple[dict[str, dict[str, float]], list[Evidence]]:
        """Softmax over each dimension's candidates of ``logit_scale · cos(audio, prompt)``;
        evidence for the ``top_k`` tags above chance (1 / number of candidates)."""
        scale = self.logit_scale
        scores: dict[str, dict[str, float]] = {}
        evidence: list[Evidence] = []
        for dim, (names, mat) in self.matrix.items():
            cos = mat.astype(np.float64) @ vector.astype(np.float64)
            z = scale * cos
            p = np.exp(z - z.max())
            p /= p.sum()
            scores[dim] = {t: float(v) for t, v in zip(names, p, strict=True) if t != BACKGROUND}
            chance = 1.0 / len(names)
            ranked = [i for i in np.argsort(-p, kind="stable") if names[i] != BACKGROUND]
            for rank, i in enumerate(ranked[: self.prompts.top_k]):
                if p[i] < chance:
                    break
                tag = names[i]
                evidence.append(Evidence(
                    dimension=dim, tag=tag, source="clap",
                    cue=self.prompts.prompts[dim][tag][0], p=float(p[i]),
                    detail={"model": self.model, "cosine": round(float(cos[i]), 4),
                            "rank": rank + 1}))
        return scores, evidence
