"""One song analysed, without the store: audio model, audio features, text, tags and vectors
→ the song's record and its point (:func:`analyse_song`); the fused vector (:func:`fuse_vectors`);
the per-stage timing that ingestion reports to its observers (:class:`StageTimer`); decoding and
analysis with loaded models and no store (:class:`SongAnalyser`: a catalog's, or a Ray actor's),
whose result (:class:`Analysed`) the catalog stores."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from songlens.catalog.record import SongRecord
from songlens.catalog.text_model import build_dense_text
from songlens.catalog.text_vectors import text_source, text_vector
from songlens.content.audio_io import DecodedAudio, decode_audio
from songlens.content.metadata import SongMetadata
from songlens.content.resources import Resources
from songlens.content.text.dense import DenseText
from songlens.embeddings.encoders import l2_normalise, segment_vectors
from songlens.embeddings.models import Models
from songlens.settings import Settings
from songlens.store import Point

if TYPE_CHECKING:
    from songlens.content.features import Measured

__all__ = ["Analysed", "SongAnalyser", "StageObserver", "StageTimer", "analyse_song",
           "fuse_vectors"]

log = logging.getLogger(__name__)


def fuse_vectors(audio: np.ndarray, text: np.ndarray, *, audio_weight: float,
                 text_weight: float) -> np.ndarray:
    """Concatenate unit vectors scaled by sqrt of normalised weights: the cosine of two fused
    vectors is then exactly ``wa·cos(audio) + wt·cos(text)``."""
    total = audio_weight + text_weight or 1.0
    wa, wt = np.sqrt(audio_weight / total), np.sqrt(text_weight / total)
    return l2_normalise(np.concatenate([wa * l2_normalise(audio), wt * l2_normalise(text)]))


#: called with (stage, seconds) as each ingestion stage ends, failed or not
StageObserver = Callable[[str, float], None]


class StageTimer:
    """Seconds per stage; ``observers`` are told ``(stage, seconds)`` as each stage ends,
    ``on_stage(stage)`` as each starts (an ingest job's progress). ``earlier_s``: seconds of the
    stage already spent beside another one (the signal measurements run beside the audio
    model), added to it once it ends."""

    def __init__(self, observers: list[StageObserver] | tuple[StageObserver, ...] = (),
                 on_stage: Callable[[str], None] | None = None) -> None:
        self.t: dict[str, float] = {}
        self.observers = observers
        self.on_stage = on_stage

    @contextmanager
    def __call__(self, stage: str, *, earlier_s: float = 0.0) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(stage)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0 + earlier_s
            self.t[stage] = self.t.get(stage, 0.0) + dt
            for observe in self.observers:
                try:
                    observe(stage, dt)
                except Exception:  # noqa: BLE001 - an observer never fails an ingestion
                    log.exception("stage observer %r failed", observe)


#: Songs up to this long (seconds) are measured beside the audio model: the two stages' peaks
#: then add up. With both musicnn models and the text model loaded, a 20-minute file measured
#: beside the model peaked at 1.66 GiB and a 10-minute one at 1.36 GiB; one after the other the
#: 20-minute file peaked at 1.49–1.65 GiB then, and at 1.36–1.38 GiB once the versions vector's
#: chroma and beat tempo went block-wise (benchmarks/ingest_memory.py, 2026-11-30). Beside the
#: model was not measured again after that change.
OVERLAP_MAX_S = 600.0


def _measure(audio: DecodedAudio, versions: bool) -> tuple[Measured, np.ndarray | None, float]:
    """The features' signal measurements and, with ``versions``, the versions (covers) vector,
    whose chroma pass counts as audio features; and the seconds they took."""
    from songlens.content.features import measure_signal
    from songlens.embeddings.versions import versions_vector

    t0 = time.perf_counter()
    measured = measure_signal(y=audio.y, sr=audio.sr)
    vec = versions_vector(y=audio.y, sr=audio.sr) if versions else None
    return measured, vec, time.perf_counter() - t0


def analyse_song(audio: DecodedAudio, meta: SongMetadata, *, settings: Settings, models: Models,
                 resources: Resources, dense_text: DenseText | None, segments: bool,
                 versions: bool = False, timer: StageTimer | None = None
                 ) -> tuple[SongRecord, Point]:
    """Everything about one song, without touching the store: the record and its point
    (vectors only: the payload is written from the record when it is stored). ``dense_text``:
    the text model's zero-shot tags and sentiment head (None: lexicons alone); ``segments``:
    the collection holds per-patch segment vectors; ``versions``: it holds the versions (covers)
    vector."""
    from songlens.content.features import describe
    from songlens.content.tagging.audio_tags import audio_evidence
    from songlens.content.tagging.fusion import fuse_tags
    from songlens.content.tagging.instruments import (
        detect_instruments,
        head_input,
        instrument_evidence,
    )
    from songlens.content.tagging.timeline import tag_timeline
    from songlens.content.tagging.voice import detect_voice
    from songlens.content.text.analyse import analyse_text
    from songlens.content.text.vectors import tag_profile_vector

    timer = timer or StageTimer()
    # The signal measurements (and the versions vector) need no model: a thread runs them
    # beside the audio model, whose ONNX sessions let go of the GIL while they compute. Both
    # hold whole-track spectrograms, so a long file runs them one after the other instead.
    if audio.duration_s <= OVERLAP_MAX_S:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="measure") as pool:
            measuring = pool.submit(_measure, audio, versions)
            with timer("audio_model"):
                analysis = models.audio.analyse(audio.y)
            measured, versions_vec, measure_s = measuring.result()
    else:
        with timer("audio_model"):
            analysis = models.audio.analyse(audio.y)
        measured, versions_vec, measure_s = _measure(audio, versions)
    merged: dict[str, float] = {}
    for probs in analysis.tag_probs.values():
        for tag, p in probs.items():
            merged[tag] = max(merged.get(tag, 0.0), float(p))
    with timer("features", earlier_s=measure_s):
        feats = describe(measured, merged or None).to_dict()
        grams = analysis.extra.get("taggram") or {}
        gram_tags = analysis.extra.get("taggram_tags") or {}
        hop_s = analysis.extra.get("patch_seconds") or 0.0
        vocab = resources.instruments
        heard = head_input(vocab.head, analysis.patch_vectors, models.audio.config(),
                           analysis.extra.get("musicnn_patch_vectors"))
        instruments = detect_instruments(grams, gram_tags, vocabulary=vocab, hop_s=hop_s,
                                         patch_vectors=heard)
        voice = detect_voice(grams, gram_tags, vocabulary=vocab, hop_s=hop_s)
        if voice is not None:  # the voice detector, measured on real recordings, decides
            feats |= {"vocal_presence": round(voice.probability, 4),
                      "instrumentalness": round(1.0 - voice.probability, 4),
                      "vocal_source": "voice"}
    with timer("text"):
        comments = [(c.text, c.likes) for c in meta.comments[: settings.text.max_comments]]
        text = analyse_text(title=meta.title, artist=meta.artist, album=meta.album,
                            lyrics=meta.lyrics, comments=comments,
                            audio_instrumental=feats.get("instrumentalness"),
                            voice=voice.to_dict() if voice is not None else None,
                            catalogue_language=meta.language, resources=resources,
                            valence_model=models.sentiment.valence
                            if models.sentiment else None, dense=dense_text)
        evidence = list(text.evidence) + \
            audio_evidence(analysis.tag_probs, mapping=resources.audio_tags) + \
            instrument_evidence(instruments, vocabulary=vocab,
                                voice_probability=voice.probability if voice else None) + \
            list(analysis.extra.get("evidence", ()))  # e.g. CLAP zero-shot
        tags = {d: [t.to_dict() for t in ts]
                for d, ts in fuse_tags(evidence, resources=resources).items()}
        source = text_source(text.dense_text, text.cjk_share)
        text_vec, text_input = text_vector(models.text, source=source,
                                           title=meta.title, tags=tags,
                                           keywords=list(text.keywords))
        tags_vec = tag_profile_vector(tags, resources.taxonomy)
    fused = fuse_vectors(analysis.vector, text_vec,
                         audio_weight=settings.fusion.audio_weight,
                         text_weight=settings.fusion.text_weight)
    record = SongRecord(
        song_id=meta.song_id or "", title=meta.title, artist=meta.artist, album=meta.album,
        duration_s=round(audio.duration_s, 3), tags=tags, audio_features=feats,
        language={"primary": text.language.primary,
                  "scores": {k: round(v, 4) for k, v in text.language.scores.items()},
                  "source": text.language.source},
        keywords=list(text.keywords)[:20], sentiment=round(float(text.sentiment), 4),
        audio_hash=audio.content_hash,
        source={"sample_rate": audio.source_sr, "channels": audio.source_channels,
                "container": audio.container,
                "header_duration_s": audio.header_duration_s},
        warnings=list(audio.warnings), lyrics_lines=text.lines,
        timeline=tag_timeline(grams, gram_tags, hop_s=hop_s),
        instruments=[i.to_dict() for i in instruments],
        voice=voice.to_dict() if voice is not None else None,
        models={"audio": models.audio.name, "text": models.text.name,
                "sentiment": models.sentiment.name if models.sentiment
                else f"{dense_text.model} head + lexicon"
                if dense_text and dense_text.sentiment else "lexicon",
                "text_tags": "zero-shot + lexicon" if dense_text else "lexicon",
                "text_input": text_input},
        text_source=source,
        tag_probs={m: {t: round(float(p), 4) for t, p in probs.items()}
                   for m, probs in analysis.tag_probs.items()})
    vectors = {"audio": analysis.vector, "text": text_vec, "fused": fused}
    if versions_vec is not None and np.any(versions_vec):  # silence: no point (cosine of zero)
        vectors["versions"] = versions_vec
    if np.any(tags_vec):  # no evidence at all: no point in the tags space (cosine of zero)
        vectors["tags"] = tags_vec
    if segments and analysis.patch_vectors is not None \
            and len(analysis.patch_vectors):
        vectors["segments"] = segment_vectors(analysis.patch_vectors, hop=1)
    point = Point(key="", payload={}, vectors=vectors,
                  sparse={"lyrics": text.sparse} if text.sparse[0] else {})
    return record, point


@dataclass
class Analysed:
    """One song analysed and not yet stored: what an analysis worker (a thread, a Ray actor)
    hands the writer (:meth:`~songlens.catalog.pipeline.Catalog.store_analysed`). ``keep``:
    ``(file bytes, container)`` to keep as the song's audio file (with ``audio.keep_files``)."""

    meta: SongMetadata
    record: SongRecord
    point: Point
    audio_hash: str
    source_path: str | None = None
    keep: tuple[bytes, str] | None = None
    timings: dict[str, float] = field(default_factory=dict)


class SongAnalyser:
    """Decode and analyse songs with loaded models, without a store. ``segments``: the
    collection holds per-patch segment vectors; ``versions``: it holds the versions (covers)
    vector."""

    def __init__(self, *, settings: Settings, models: Models, resources: Resources,
                 segments: bool, versions: bool = False) -> None:
        self.settings = settings
        self.models = models
        self.resources = resources
        self.segments = segments
        self.versions = versions
        # zero-shot tags and sentiment head of the text model (None: lexicons alone)
        self.dense_text = build_dense_text(models.text, resources)

    def decode(self, data: bytes, filename: str = "") -> DecodedAudio:
        a = self.settings.audio
        return decode_audio(data, filename=filename, sr=a.sample_rate,
                            max_duration_s=a.max_duration_s, min_duration_s=a.min_duration_s,
                            max_decoded_samples=a.max_decoded_samples,
                            timeout_s=a.decode_timeout_s,
                            min_decoded_fraction=a.min_decoded_fraction)

    def analyse(self, audio: DecodedAudio, meta: SongMetadata, *,
                timer: StageTimer | None = None) -> tuple[SongRecord, Point]:
        """Everything about one song, without touching the store (:func:`analyse_song`)."""
        return analyse_song(audio, meta, settings=self.settings, models=self.models,
                            resources=self.resources, dense_text=self.dense_text,
                            segments=self.segments, versions=self.versions, timer=timer)

    def prepare(self, data: bytes, meta: SongMetadata, *, filename: str = "",
                source_path: str | None = None, timer: StageTimer | None = None) -> Analysed:
        """Decode and analyse one file's bytes: the song ready for the writer (its audio file
        is not carried: the writer reads it when it keeps files)."""
        timer = timer or StageTimer()
        with timer("decode"):
            audio = self.decode(data, filename)
        record, point = self.analyse(audio, meta, timer=timer)
        return Analysed(meta=meta, record=record, point=point, audio_hash=audio.content_hash,
                        source_path=source_path, timings=dict(timer.t))
