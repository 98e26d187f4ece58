"""Which instruments play, and where → named instruments with Chinese and English names, a
score, the evidence and a per-patch timeline (``configs/instruments.yaml``).

Two sources of scores:

* the **instrument head** (:mod:`.instrument_head`), a logistic regression per instrument on the
  musicnn encoder's per-patch vectors, used whenever the song was analysed by the encoder it
  was trained on: an instrument's score pools its per-patch probabilities (the head's ``pool``),
  and it is named at the head's threshold;
* otherwise musicnn's own instrument outputs (**cues**): the strongest of an instrument's cues'
  calibrated track probabilities (:meth:`AudioTagMapping.calibrate`, the audio tags' prior shift
  against reference quantiles of real music) times the cue's weight, named at the config's
  threshold (chosen on rendered General MIDI by ``benchmarks/instruments_accuracy.py
  --write-thresholds``). Instruments without cues (organ, brass …) are named by the head only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from songlens.content.tagging.audio_tags import AudioTagMapping
from songlens.content.tagging.instrument_head import HEAD_PATH, InstrumentHead
from songlens.content.tagging.timeline import active_segments
from songlens.content.taxonomy import Evidence, Taxonomy
from songlens.errors import ConfigError, UnknownTag

__all__ = ["Instrument", "InstrumentSpec", "InstrumentVocabulary", "best_f1_threshold",
           "detect_instruments", "head_input", "instrument_evidence", "load_instrument_vocabulary",
           "tune_thresholds", "write_thresholds"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class InstrumentSpec:
    """One nameable instrument: ``name`` (its id, lower-case English), ``zh``/``en`` labels,
    ``cues`` ``(model, musicnn tag, weight)`` (empty: the instrument head alone names it), the
    cue score ``threshold`` at which it is named and the 主题 ``theme`` tag it supports (None:
    none)."""

    name: str
    zh: str
    en: str
    cues: tuple[tuple[str, str, float], ...]
    threshold: float = 0.5
    theme: str | None = None


@dataclass
class Instrument:
    """An instrument heard in a song (an item of the document's ``instruments``)."""

    name: str
    zh: str
    en: str
    score: float
    evidence: list[dict[str, Any]] = field(default_factory=list)
    timeline: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "zh": self.zh, "en": self.en, "score": round(self.score, 4),
                "evidence": self.evidence, "timeline": self.timeline}


class InstrumentVocabulary:
    """The parsed ``configs/instruments.yaml``: the nameable instruments (:attr:`specs`, in
    file order), those no model output names (:attr:`unnamed`: ``{name: {zh, en, why}}``), the
    voice section (:attr:`voice`, read by :mod:`~songlens.content.tagging.voice`), the audio
    tag calibration it shares (:attr:`calibration`) and the instrument :attr:`head` (None:
    cues only)."""

    def __init__(self, spec: Mapping[str, Any], *, calibration: AudioTagMapping,
                 taxonomy: Taxonomy, labels: Mapping[str, Sequence[str]] | None = None,
                 head: InstrumentHead | None = None) -> None:
        self.calibration = calibration
        self.head = head
        self.specs: list[InstrumentSpec] = []
        for name, item in (spec.get("instruments") or {}).items():
            name = str(name)
            if not _NAME.match(name) or not isinstance(item, Mapping):
                raise ConfigError(f"instruments.yaml: bad instrument entry {name!r}")
            cues = []
            for cue in item.get("cues") or []:
                if len(cue) != 3:
                    raise ConfigError(f"instruments.yaml {name}: each cue is [model, tag, weight],"
                                      f" got {cue!r}")
                model, tag, w = str(cue[0]), str(cue[1]), float(cue[2])
                if labels is not None and tag not in labels.get(model, ()):
                    raise ConfigError(f"instruments.yaml {name}: {tag!r} is not a {model} tag")
                if not 0.0 < w <= 1.0:
                    raise ConfigError(f"instruments.yaml {name}: weight must be in (0, 1], "
                                      f"got {w!r}")
                cues.append((model, tag, w))
            theme = item.get("theme")
            if theme is not None:
                try:
                    theme = taxonomy.canonical("theme", str(theme))
                except UnknownTag as exc:
                    raise ConfigError(f"instruments.yaml {name}: {exc.message}") from exc
            thr = float(item.get("threshold", 0.5))
            if not 0.0 < thr < 1.0:
                raise ConfigError(f"instruments.yaml {name}: threshold must be in (0, 1), "
                                  f"got {thr!r}")
            self.specs.append(InstrumentSpec(name, str(item.get("zh") or name),
                                             str(item.get("en") or name), tuple(cues), thr,
                                             theme))
        if head is not None:
            missing = set(head.names) - {s.name for s in self.specs}
            if missing:
                raise ConfigError(f"the instrument head names {sorted(missing)}, which "
                                  f"instruments.yaml does not list")
        self.unnamed: dict[str, dict[str, str]] = {
            str(k): {kk: str(vv) for kk, vv in (v or {}).items()}
            for k, v in (spec.get("unnamed") or {}).items()}
        self.voice: dict[str, Any] = dict(spec.get("voice") or {})
        self.instrumental_theme = spec.get("instrumental_theme")
        self._by_key = {}
        for s in self.specs:
            for key in (s.name, s.zh, s.en.lower()):
                self._by_key[key] = s

    def get(self, name: str) -> InstrumentSpec:
        """The instrument called ``name`` (id, Chinese or English label).

        Raises
        ------
        UnknownTag
            Not a nameable instrument; the message lists them.
        """
        spec = self._by_key.get(name.strip()) or self._by_key.get(name.strip().lower())
        if spec is None:
            raise UnknownTag(f"unknown instrument {name[:40]!r}; allowed: "
                             + ", ".join(f"{s.name} ({s.zh})" for s in self.specs))
        return spec

    def calibrated(self, model: str, cue: str, raw: np.ndarray) -> np.ndarray:
        """The audio tags' calibration, elementwise over ``raw``."""
        flat = np.asarray(raw, dtype=np.float64).ravel()
        out = np.array([self.calibration.calibrate(model, cue, float(x)) for x in flat])
        return out.reshape(np.shape(raw))


def load_instrument_vocabulary(path: str | Path, *, calibration: AudioTagMapping,
                               taxonomy: Taxonomy, head_path: str | Path | None = HEAD_PATH
                               ) -> InstrumentVocabulary:
    """Read and validate ``configs/instruments.yaml`` against the musicnn tag lists, with the
    instrument head at ``head_path`` (None or no file: cues only)."""
    p = Path(path)
    try:
        spec = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read instrument config {p.name!r}: {exc}") from exc
    from songlens.content.musicnn.tagger import MODELS, musicnn_labels

    head = InstrumentHead.load(head_path) if head_path is not None else None
    return InstrumentVocabulary(spec, calibration=calibration, taxonomy=taxonomy,
                                labels={m: musicnn_labels(m) for m in MODELS}, head=head)


def _columns(taggrams: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]]
             ) -> dict[tuple[str, str], np.ndarray]:
    out = {}
    for model, gram in taggrams.items():
        gram = np.asarray(gram, dtype=np.float64)
        names = list(labels.get(model, ()))
        if gram.ndim == 2 and gram.shape[0] and gram.shape[1] == len(names):
            out.update({(model, n): gram[:, j] for j, n in enumerate(names)})
    return out


def _scores(spec: InstrumentSpec, cols, vocab: InstrumentVocabulary, *,
            per_patch: bool = True):
    """(track score, per-patch scores, best cue's evidence) of one instrument, or None;
    ``per_patch`` False: the track score and evidence only (per-patch scores None)."""
    best = None
    patches = None
    for model, cue, w in spec.cues:
        col = cols.get((model, cue))
        if col is None:
            continue
        raw = float(col.mean())
        p = w * vocab.calibration.calibrate(model, cue, raw)
        if per_patch:
            per = w * vocab.calibrated(model, cue, col)
            patches = per if patches is None or patches.shape != per.shape \
                else np.maximum(patches, per)
        ev = {"source": "audio", "model": model, "cue": cue, "raw": round(raw, 4),
              "p": round(p, 4)}
        pct = vocab.calibration.percentile(model, cue, raw)
        if pct is not None:
            ev["percentile"] = round(pct, 3)
        if best is None or p > best[0]:
            best = (p, ev)
    if best is None:  # no cue of this instrument in the taggrams
        return None
    return best[0], patches, best[1]


def head_input(head: InstrumentHead | None, patch_vectors: Any, encoder_config: Any,
               beside: Any = None) -> np.ndarray | None:
    """The patch vectors the instrument ``head`` may read for one song, or None (the cues
    decide): the audio encoder's own (configured ``encoder_config``), or ``beside`` — ``{"config",
    "vectors"}`` of the musicnn run another encoder keeps for its tags — when the head was
    trained on that encoder's vectors and they have its width and at least one patch."""
    if isinstance(beside, Mapping):
        patch_vectors, encoder_config = beside.get("vectors"), beside.get("config")
    if head is None or patch_vectors is None or not isinstance(encoder_config, Mapping) \
            or not head.accepts(encoder_config):
        return None
    v = np.asarray(patch_vectors)
    if v.ndim != 2 or not v.shape[0] or v.shape[1] != head.dim or v.dtype.kind not in "fiu":
        return None
    return v


def detect_instruments(taggrams: Mapping[str, np.ndarray],
                       labels: Mapping[str, Sequence[str]], *,
                       vocabulary: InstrumentVocabulary, hop_s: float,
                       patch_vectors: np.ndarray | None = None) -> list[Instrument]:
    """The instruments heard in a song, strongest first.

    Parameters
    ----------
    taggrams : mapping of model name → np.ndarray [shape=(n_patches, n_tags)]
        Per-patch tag probabilities (``AudioAnalysis.extra["taggram"]``).
    labels : mapping of model name → sequence of str
        Each model's tag names in column order.
    vocabulary : InstrumentVocabulary
        ``Resources.instruments``.
    hop_s : float
        Seconds between patches.
    patch_vectors : np.ndarray [shape=(n_patches, d)], optional
        The audio encoder's per-patch vectors, given only when they come from the encoder the
        vocabulary's head was trained on (:meth:`InstrumentHead.accepts`): the head then scores
        the instruments it knows, and the cues only the others.

    Returns
    -------
    list[Instrument]
        Each with ``timeline = {"hop_s", "values": [score per patch], "segments": [[start_s,
        end_s], …]}`` (segments: runs of patches at or above the threshold).
    """
    cols = _columns(taggrams, labels)
    head = vocabulary.head if patch_vectors is not None and len(patch_vectors) else None
    head_probs = head.patch_probs(patch_vectors) if head is not None else None
    out = []
    for spec in vocabulary.specs:
        by_head = head is not None and spec.name in head.names
        # with the head deciding, the cue only adds its track-level evidence for the reader
        cue = _scores(spec, cols, vocabulary, per_patch=not by_head) if spec.cues else None
        if by_head:
            j = head.names.index(spec.name)
            score = float(head.score(head_probs[:, j]))
            per = head.calibrate(head_probs[:, j])
            thr = head.thresholds[j]
            ev = [{"source": "audio", "model": "instrument_head", "p": round(score, 4),
                   "patches": int(per.size), "pool": head.pool}]
            if cue is not None:  # what musicnn's own tag said, for the reader
                ev.append(cue[2])
        elif cue is not None:
            score, per, cue_ev = cue
            thr = spec.threshold
            ev = [cue_ev]
        else:
            continue
        if not (math.isfinite(score) and score >= thr):
            continue
        on = per >= thr
        segments = active_segments(on, hop_s)
        timeline = {"hop_s": round(float(hop_s), 4),
                    "values": [round(float(v), 3) for v in per], "segments": segments,
                    "share": round(float(on.mean()), 3)}
        out.append(Instrument(spec.name, spec.zh, spec.en, float(score), ev, timeline))
    out.sort(key=lambda i: (-i.score, i.name))
    return out


def instrument_evidence(instruments: Iterable[Instrument], *, vocabulary: InstrumentVocabulary,
                        voice_probability: float | None = None) -> list[Evidence]:
    """主题 evidence from the named instruments (source ``instruments``): each instrument's theme
    tag (钢琴, 吉他) at its score, and the instrumental theme (器乐) at the strongest score times
    the probability that there is no voice (when the voice is known)."""
    out: list[Evidence] = []
    strongest = None
    for inst in instruments:
        spec = vocabulary.get(inst.name)
        detail = {"instrument": inst.name, "zh": inst.zh, "en": inst.en}
        if spec.theme:
            out.append(Evidence("theme", spec.theme, "instruments", inst.en, inst.score, detail))
        if inst.name != "drums" and (strongest is None or inst.score > strongest.score):
            strongest = inst
    if (vocabulary.instrumental_theme and strongest is not None
            and voice_probability is not None):
        p = strongest.score * (1.0 - voice_probability)
        if p > 0.05:
            out.append(Evidence("theme", str(vocabulary.instrumental_theme), "instruments",
                                strongest.en, p, {"instrument": strongest.name,
                                                  "zh": strongest.zh, "en": strongest.en,
                                                  "no_voice": round(1 - voice_probability, 3)}))
    return out


def tune_thresholds(items: Sequence[tuple[Mapping[str, np.ndarray], set[str]]],
                    labels: Mapping[str, Sequence[str]], *, vocabulary: InstrumentVocabulary,
                    grid: Sequence[float] = tuple(np.round(np.arange(0.2, 0.96, 0.025), 3)),
                    ) -> dict[str, float]:
    """Per instrument, the threshold of ``grid`` with the best F1 on ``items`` (taggram, truth
    names); ties go to the higher threshold (fewer false names). Instruments no item has keep
    their configured threshold."""
    scores: dict[str, list[tuple[float, bool]]] = {s.name: [] for s in vocabulary.specs}
    for taggrams, truth in items:
        cols = _columns(taggrams, labels)
        for spec in vocabulary.specs:
            got = _scores(spec, cols, vocabulary)
            if got is not None:
                scores[spec.name].append((got[0], spec.name in truth))
    chosen = {}
    for spec in vocabulary.specs:
        pairs = scores[spec.name]
        if not any(t for _, t in pairs):
            chosen[spec.name] = spec.threshold
            continue
        chosen[spec.name] = best_f1_threshold(np.array([sc for sc, _ in pairs]),
                                              np.array([t for _, t in pairs]), grid)
    return chosen


def best_f1_threshold(scores: np.ndarray, truth: np.ndarray, grid: Sequence[float]) -> float:
    """The threshold of ``grid`` at which naming where ``scores ≥ threshold`` has the best F1
    against ``truth`` (booleans); ties go to the higher threshold (fewer false names)."""
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=bool)
    best = (-1.0, float(grid[0]))
    for thr in grid:
        on = scores >= thr
        tp, fp, fn = int((on & truth).sum()), int((on & ~truth).sum()), int((~on & truth).sum())
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 >= best[0]:
            best = (f1, float(thr))
    return best[1]


def write_thresholds(chosen: Mapping[str, float], path: str | Path | None = None) -> None:
    """Rewrite the ``threshold:`` of each instrument in ``instruments.yaml`` in place
    (comments and order kept)."""
    from songlens.content.taxonomy import config_path

    p = Path(path) if path else config_path("instruments.yaml")
    lines = p.read_text(encoding="utf-8").split("\n")
    current = None
    for i, line in enumerate(lines):
        m = re.match(r"^  ([a-z][a-z0-9_-]*):\s*$", line)
        if m:
            current = m.group(1)
        elif current in chosen and re.match(r"^    threshold:", line):
            lines[i] = f"    threshold: {chosen[current]:.3f}"
    p.write_text("\n".join(lines), encoding="utf-8")
