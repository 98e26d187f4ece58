"""The five-dimension tag taxonomy, and the evidence/score types every tagger speaks.

A tagger (audio model, lyrics lexicon, comments, metadata cues) emits :class:`Evidence` for a
``(dimension, tag)``; the fusion step turns all evidence into :class:`TagScore` lists, one per
dimension, sorted by score, each carrying the evidence behind it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from songlens.errors import ConfigError, UnknownTag

__all__ = ["DIMENSIONS", "Evidence", "TagScore", "Taxonomy", "config_dir", "config_path",
           "load_taxonomy"]

DIMENSIONS: tuple[str, ...] = ("language", "style", "scene", "emotion", "theme")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One piece of support for a tag.

    Parameters
    ----------
    dimension, tag : str
        Where it points; ``tag`` is the canonical (Chinese) label.
    source : str
        ``audio`` | ``lyrics`` | ``comments`` | ``metadata`` | ``clap`` | ...
    cue : str
        What was seen: a model tag (``sad``), a lexicon word (``失恋``), a title cue (``OST``).
    p : float
        Strength in [0, 1] (a calibrated probability for models, a weight for lexicon hits).
    """

    dimension: str
    tag: str
    source: str
    cue: str
    p: float
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "cue": self.cue, "p": round(float(self.p), 4)}
        out.update(self.detail)
        return out


@dataclass(slots=True)
class TagScore:
    tag: str
    en: str
    score: float
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "en": self.en, "score": round(float(self.score), 4),
                "evidence": self.evidence}


class Taxonomy:
    """Tags per dimension with English aliases; lookups accept either label, case-insensitively."""

    def __init__(self, spec: dict[str, Any]) -> None:
        dims = spec.get("dimensions") or {}
        missing = [d for d in DIMENSIONS if d not in dims]
        if missing:
            raise ConfigError(f"taxonomy lacks dimensions {missing}; need all of {DIMENSIONS}")
        self.zh_names: dict[str, str] = {d: dims[d].get("zh", d) for d in DIMENSIONS}
        self.tags: dict[str, list[str]] = {}
        self.en: dict[tuple[str, str], str] = {}
        #: optional short descriptions of a tag (``desc``: a string or a list), for text models
        self.descriptions: dict[tuple[str, str], tuple[str, ...]] = {}
        self._lookup: dict[tuple[str, str], str] = {}
        for dim in DIMENSIONS:
            self.tags[dim] = []
            for item in dims[dim]["tags"]:
                tag, en = str(item["tag"]), str(item.get("en", item["tag"]))
                self.tags[dim].append(tag)
                self.en[(dim, tag)] = en
                desc = item.get("desc") or ()
                self.descriptions[(dim, tag)] = (desc,) if isinstance(desc, str) else tuple(
                    str(d) for d in desc)
                self._lookup[(dim, tag.casefold())] = tag
                self._lookup[(dim, en.casefold())] = tag
        self._dim_lookup = {d: d for d in DIMENSIONS} | {v: k for k, v in self.zh_names.items()}

    def dimension(self, name: str) -> str:
        """Canonical dimension name for ``language`` or ``语种`` (raises :class:`UnknownTag`)."""
        dim = self._dim_lookup.get(name.strip().lower()) or self._dim_lookup.get(name.strip())
        if dim is None:
            raise UnknownTag(f"unknown tag dimension {name!r}; allowed: {', '.join(DIMENSIONS)}")
        return dim

    def canonical(self, dimension: str, name: str) -> str:
        """Canonical tag for a Chinese label or English alias (raises :class:`UnknownTag`);
        languages also by code (``yue``, ``zh-HK``, ``en``, see ``catalogue_language``)."""
        dim = self.dimension(dimension)
        tag = self._lookup.get((dim, name.strip().casefold()))
        if tag is None and dim == "language":
            from songlens.content.text.language import catalogue_language

            code = catalogue_language(name)
            tag = code if code in self.tags[dim] else None
        if tag is None:
            allowed = ", ".join(f"{t} ({self.en[(dim, t)]})" for t in self.tags[dim])
            raise UnknownTag(f"unknown {dim} tag {name!r}; allowed: {allowed}",
                             dimension=dim, tag=name)
        return tag

    def __contains__(self, item: tuple[str, str]) -> bool:
        return (item[0], item[1].casefold()) in self._lookup


def config_dir() -> Path:
    """The ``configs/`` folder: ``$SONGLENS_CONFIG_DIR`` if set, else the checkout's own."""
    env = os.environ.get("SONGLENS_CONFIG_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "configs"


def config_path(name: str) -> Path:
    """Path of a file under :func:`config_dir`."""
    return config_dir() / name


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (default: ``taxonomy.yaml`` of :func:`config_dir`)."""
    p = Path(path) if path else config_path("taxonomy.yaml")
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read taxonomy file {str(p)!r}: {exc}") from exc
    return Taxonomy(spec)
