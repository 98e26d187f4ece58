"""Is there a voice, and where: vocal presence per patch from the audio taggers' vocal and
no-vocal outputs (``voice:`` in ``configs/instruments.yaml``).

Per patch, ``v`` is the strongest calibrated vocal cue (vocal, singing, voice, male/female
vocal, choir …) and ``n`` the strongest calibrated no-vocal cue (no vocals, no voice,
instrumental); the patch's vocal presence is ``(v + ε) / (v + n + 2ε)``. A singer is rarely heard
in every patch (intros, solos, breaks), so the track's probability is a high quantile of the
patches' presence, not their mean. The audio, not the lyrics field, decides whether a song is
纯音乐: a song posted without lyrics whose audio has a voice is not instrumental.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songlens.content.tagging.instruments import InstrumentVocabulary, _columns
from songlens.content.tagging.timeline import active_segments
from songlens.errors import ConfigError

__all__ = ["Voice", "detect_voice"]

_EPS = 0.02


@dataclass
class Voice:
    """What :func:`detect_voice` found: ``probability`` that the track has a voice (0–1),
    ``present`` (``probability >= threshold``), ``share`` of patches with a voice, and
    ``timeline`` ``{"hop_s", "values": [presence per patch], "segments": [[start_s, end_s]]}``;
    ``evidence`` names the strongest vocal and no-vocal cues."""

    probability: float
    present: bool
    share: float
    threshold: float
    timeline: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"probability": round(self.probability, 4), "present": self.present,
                "share": round(self.share, 3), "threshold": self.threshold,
                "evidence": self.evidence, "timeline": self.timeline}


def _cues(items: Any, what: str) -> list[tuple[str, str, float]]:
    out = []
    for item in items or []:
        if len(item) != 3 or not 0.0 < float(item[2]) <= 1.0:
            raise ConfigError(f"instruments.yaml voice.{what}: each cue is [model, tag, weight "
                              f"in (0, 1]], got {item!r}")
        out.append((str(item[0]), str(item[1]), float(item[2])))
    return out


def detect_voice(taggrams: Mapping[str, np.ndarray], labels: Mapping[str, Sequence[str]], *,
                 vocabulary: InstrumentVocabulary, hop_s: float,
                 threshold: float | None = None) -> Voice | None:
    """Vocal presence of a song from its taggrams (None when no cue's output is there).

    Parameters
    ----------
    taggrams : mapping of model name → np.ndarray [shape=(n_patches, n_tags)]
        Per-patch tag probabilities (``AudioAnalysis.extra["taggram"]``).
    labels : mapping of model name → sequence of str
    vocabulary : InstrumentVocabulary
        Its ``voice`` section: ``vocal`` and ``no_vocal`` cue lists, ``quantile`` of the patch
        presences that is the track's probability, ``threshold`` for ``present``.
    hop_s : float
        Seconds between patches.
    threshold : float, optional
        Replaces the config's threshold (tuning).
    """
    cfg = vocabulary.voice
    cols = _columns(taggrams, labels)
    cal = vocabulary.calibrated
    best: dict[str, tuple[np.ndarray, str, str]] = {}
    for kind in ("vocal", "no_vocal"):
        for model, cue, w in _cues(cfg.get(kind), kind):
            col = cols.get((model, cue))
            if col is None:
                continue
            p = w * cal(model, cue, col)
            if kind not in best or best[kind][0].shape != p.shape:
                best[kind] = (p, model, cue)
            else:
                mask = p > best[kind][0]
                if mask.mean() > 0.5:
                    best[kind] = (np.maximum(p, best[kind][0]), model, cue)
                else:
                    best[kind] = (np.maximum(p, best[kind][0]), best[kind][1], best[kind][2])
    if "vocal" not in best:
        return None
    v = best["vocal"][0]
    n = best["no_vocal"][0] if "no_vocal" in best else np.zeros_like(v)
    presence = (v + _EPS) / (v + n + 2 * _EPS)
    q = float(cfg.get("quantile", 0.75))
    thr = float(threshold if threshold is not None else cfg.get("threshold", 0.5))
    prob = float(np.quantile(presence, q))
    on = presence >= thr
    segments = active_segments(on, hop_s)
    evidence = {"source": "audio", "cue": "voice" if prob >= thr else "no voice",
                "vocal_cue": best["vocal"][2], "vocal_model": best["vocal"][1],
                "vocal_share": round(float(on.mean()), 3), "patches": int(presence.size)}
    if "no_vocal" in best:
        evidence["no_vocal_cue"] = best["no_vocal"][2]
    return Voice(probability=prob, present=prob >= thr, share=float(on.mean()), threshold=thr,
                 timeline={"hop_s": round(float(hop_s), 4),
                           "values": [round(float(x), 3) for x in presence],
                           "segments": segments},
                 evidence=evidence)
