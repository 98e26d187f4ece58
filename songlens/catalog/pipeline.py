"""The song catalog: ingestion (audio + text → features, tags, vectors → one Qdrant point) and
reads. All-or-nothing: everything is computed before one atomic upsert, so a failure at any step
leaves nothing behind; re-ingesting the same ``song_id`` or the same audio replaces the point
(``on_existing="update"``, the default) or leaves the stored one as it is (``"keep"``).
What a song's analysis computes is :mod:`songlens.catalog.analysis`; this module stores it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from songlens.catalog.analysis import (
    Analysed,
    SongAnalyser,
    StageObserver,
    StageTimer,
    fuse_vectors,
)
from songlens.catalog.audio_files import AudioFiles, AudioRef
from songlens.catalog.record import SongRecord, songs_spec
from songlens.content.audio_io import DecodedAudio
from songlens.content.metadata import SongMetadata
from songlens.content.resources import Resources
from songlens.content.taxonomy import Taxonomy
from songlens.embeddings.models import Models
from songlens.errors import ConfigError, NotFound, ShuttingDown, VectorSizeMismatch
from songlens.settings import Settings
from songlens.store import Filter, Hit, Match, Point, VectorStore

__all__ = ["Catalog", "IngestResult", "fuse_vectors"]

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    record: SongRecord
    replaced: list[str] = field(default_factory=list)
    kept: bool = False  # on_existing="keep" found the song stored: nothing was written
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Planned:
    """How one analysed song will be written: its id, the stored songs with its audio, the
    stored song with its id."""

    item: Analysed
    song_id: str
    same_audio: list[Hit]
    old: list[Hit]
    index: int = -1

    @property
    def replaced(self) -> list[str]:
        return [h.key for h in self.same_audio if h.key != self.song_id]

    @property
    def keys(self) -> set[str]:
        return {self.song_id, *(h.key for h in self.same_audio)}


def _touches(pending: list[_Planned], keys: set[str], audio_hash: str) -> bool:
    """Whether a song with these ids or audio touches one of ``pending`` (not yet written)."""
    return any(keys & p.keys or p.item.audio_hash == audio_hash for p in pending)


class Catalog:
    """Ingest, read and delete songs. Thread-safe; models are shared and loaded once.

    ``stage_observers`` are called with ``(stage, seconds)`` as each ingestion stage ends
    (``decode``, ``audio_model``, ``features``, ``text``, ``store``): the API turns them into
    metrics without the catalog knowing about it. :meth:`close` stops writes for a shutdown."""

    def __init__(self, *, settings: Settings, store: VectorStore, models: Models,
                 taxonomy: Taxonomy | None = None, resources: Resources | None = None) -> None:
        from songlens.content.text.vectors import tag_profile_dim

        self.settings = settings
        self.store = store
        self.models = models
        self.resources = resources or Resources(taxonomy=taxonomy)
        self.taxonomy = self.resources.taxonomy
        self.spec = songs_spec(settings.qdrant.collection, audio_dim=models.audio.dim,
                               text_dim=models.text.dim, tags_dim=tag_profile_dim(self.taxonomy),
                               segment_dim=models.audio.segment_dim,
                               versions_dim=self._versions_dim(store, settings))
        #: decoding and analysis, without the store (a Ray actor builds its own)
        self.analyser = SongAnalyser(settings=settings, models=models, resources=self.resources,
                                     segments="segments" in self.spec.multi,
                                     versions="versions" in self.spec.dense)
        # zero-shot tags and sentiment head of the text model (None: lexicons alone)
        self.dense_text = self.analyser.dense_text
        self._open_collection()
        #: kept audio files (written only with ``audio.keep_files``; always readable)
        self.audio_files = AudioFiles(settings.data_path / "audio")
        self._write_lock = threading.Lock()
        self._closed = False
        self.stage_observers: list[StageObserver] = []

    @staticmethod
    def _versions_dim(store: VectorStore, settings: Settings) -> int | None:
        """The versions vector's size; None for a collection written before that space existed
        (it keeps working without it; re-ingesting into a new data_dir adds it)."""
        from songlens.embeddings.versions import VERSIONS_DIM

        stored = store.collection_sizes(settings.qdrant.collection)
        return VERSIONS_DIM if stored is None or "versions" in stored else None

    def close(self) -> None:
        """Stop taking writes: wait for a write in progress to finish, then refuse every later
        one with :class:`ShuttingDown` (an ingestion still analysing writes nothing). The store
        stays open for its owner to close."""
        with self._write_lock:
            self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ShuttingDown("the server is shutting down and takes no more writes; retry "
                               "when it is back")

    def _open_collection(self) -> None:
        """Open (or create) the songs collection; a store written with another text model is a
        ConfigError that names the migration command."""
        from songlens.catalog.reembed import check_text_model, dimension_message

        try:
            self.store.ensure_collection(self.spec)
        except VectorSizeMismatch as exc:
            if set(exc.changed) <= {"text", "fused"}:
                raise ConfigError(dimension_message(self.spec, exc.changed)) from exc
            raise
        check_text_model(self.store, self.spec, self.models.text)

    # -- analysis -----------------------------------------------------------------------------
    def decode(self, data: bytes, filename: str = "") -> DecodedAudio:
        return self.analyser.decode(data, filename)

    def analyse(self, audio: DecodedAudio, meta: SongMetadata, *,
                timer: StageTimer | None = None) -> tuple[SongRecord, Point]:
        """Everything about one song, without touching the store (:func:`analyse_song`)."""
        return self.analyser.analyse(audio, meta,
                                     timer=timer or StageTimer(tuple(self.stage_observers)))

    # -- writes -------------------------------------------------------------------------------
    def ingest(self, data: bytes, meta: SongMetadata, *, filename: str = "",
               source_path: str | None = None,
               on_stage: Callable[[str], None] | None = None) -> IngestResult:
        """Decode, analyse and store one upload; its bytes are kept (``audio.keep_files``).
        ``on_stage`` is told each stage as it starts: decode, audio_model, features, text,
        store."""
        self._check_open()
        timer = StageTimer(tuple(self.stage_observers), on_stage)
        with timer("decode"):
            audio = self.decode(data, filename)
        return self.ingest_decoded(audio, meta, timer=timer, source_path=source_path,
                                   keep=(data, audio.container))

    def existing(self, meta: SongMetadata, audio_hash: str) -> SongRecord | None:
        """The stored song a new ingestion would replace: the same ``song_id``, or without one
        the same audio. None when there is none."""
        if meta.song_id:
            hits = self.store.get(self.spec, [meta.song_id])
            return SongRecord.from_payload(hits[0].payload) if hits else None
        same = self._hits_with(Match("audio_hash", (audio_hash,)))
        return self.get(same[0].key) if same else None

    def ingest_decoded(self, audio: DecodedAudio, meta: SongMetadata, *,
                       timer: StageTimer | None = None, source_path: str | None = None,
                       keep: tuple[bytes, str] | None = None) -> IngestResult:
        """Analyse and store decoded audio; ``keep`` is ``(file bytes, container)`` to keep as
        the song's audio file (when ``audio.keep_files``)."""
        timer = timer or StageTimer(tuple(self.stage_observers))
        if meta.on_existing == "keep":
            kept = self.existing(meta, audio.content_hash)
            if kept is not None:
                log.info("kept %s: already stored (on_existing=keep)", kept.song_id)
                return IngestResult(record=kept, kept=True, timings=dict(timer.t))
        record, point = self.analyse(audio, meta, timer=timer)
        item = Analysed(meta=meta, record=record, point=point, audio_hash=audio.content_hash,
                        source_path=source_path, keep=keep)
        return self.store_analysed([item], timer=timer)[0]

    def store_analysed(self, items: list[Analysed], *, timer: StageTimer | None = None
                       ) -> list[IngestResult]:
        """Store analysed songs in order, in as few upserts as they allow: one for the batch,
        unless a song touches one written earlier in it (the same id or audio), which is then
        written first, so the outcome is that of storing them one at a time. A failed upsert
        raises and leaves nothing of its songs behind (those of an earlier upsert stay)."""
        timer = timer or StageTimer(tuple(self.stage_observers))
        results: dict[int, IngestResult] = {}
        with timer("store"), self._write_lock:
            self._check_open()
            pending: list[_Planned] = []
            for i, item in enumerate(items):
                if _touches(pending, {item.meta.song_id} - {None}, item.audio_hash):
                    self._write(pending, results)
                plan = self._plan(item)
                if isinstance(plan, _Planned) and _touches(pending, plan.keys, item.audio_hash):
                    self._write(pending, results)
                    plan = self._plan(item)
                if isinstance(plan, IngestResult):
                    results[i] = plan
                else:
                    plan.index = i
                    pending.append(plan)
            self._write(pending, results)
        share = timer.t.get("store", 0.0) / max(1, len(items))
        for i, item in enumerate(items):
            res = results[i]
            if not res.kept:
                res.timings = {**item.timings, **timer.t} if len(items) == 1 \
                    else {**item.timings, "store": share}
                log.info("ingested %s (%s - %s) in %.2fs", res.record.song_id, item.meta.artist,
                         item.meta.title, sum(res.timings.values()))
        return [results[i] for i in range(len(items))]

    def _plan(self, item: Analysed) -> _Planned | IngestResult:
        """The stored song ``item`` keeps (on_existing=keep), or how it will be written."""
        meta = item.meta
        if meta.on_existing == "keep":
            kept = self.existing(meta, item.audio_hash)
            if kept is not None:
                log.info("kept %s: already stored (on_existing=keep)", kept.song_id)
                return IngestResult(record=kept, kept=True, timings=dict(item.timings))
        same_audio = self._hits_with(Match("audio_hash", (item.audio_hash,)))
        song_id = meta.song_id or (same_audio[0].key if same_audio
                                   else f"h{item.audio_hash[:20]}")
        return _Planned(item, song_id, same_audio, self.store.get(self.spec, [song_id]))

    def _write(self, pending: list[_Planned], results: dict[int, IngestResult]) -> None:
        """Upsert ``pending`` (then emptied), delete what they replace, release files. Called
        under the write lock."""
        if not pending:
            return
        written = []
        try:
            for plan in pending:
                record, point, old = plan.item.record, plan.item.point, plan.old
                record.song_id = point.key = plan.song_id
                record.source_path = plan.item.source_path
                # milliseconds: the engine keeps 16 significant digits of a payload float, so
                # 13 % of raw time.time() values came back changed in the 17th
                now = round(time.time(), 3)
                first = old[0].payload.get("ingested_at") if old else None
                record.ingested_at = float(first) if isinstance(first, int | float) else now
                record.release_date = plan.item.meta.release_date or (
                    old[0].payload.get("release_date") if old else None)
                record.updated_at = now
                if plan.item.keep is not None and self.settings.audio.keep_files:
                    ref, created = self.audio_files.put(*plan.item.keep)
                    record.audio_file = ref.to_dict()
                    if created:
                        written.append(ref)
                point.payload = record.to_payload()
            self.store.upsert(self.spec, [plan.item.point for plan in pending])
        except BaseException:
            for ref in written:  # all or nothing: no file without its song
                self.audio_files.remove(ref)
            raise
        replaced = [k for plan in pending for k in plan.replaced]
        if replaced:  # the same recording under another id: the new one replaces it
            self.store.delete(self.spec, replaced)
        self._release_files([h for plan in pending for h in (*plan.old, *plan.same_audio)])
        for plan in pending:
            results[plan.index] = IngestResult(record=plan.item.record, replaced=plan.replaced)
        pending.clear()

    @contextmanager
    def writes_held(self) -> Iterator[None]:
        """Ingestions and deletions wait while this is held (a consistent backup)."""
        with self._write_lock:
            yield

    def delete(self, song_id: str) -> None:
        """Delete a song, and its kept audio file when no other song shares it."""
        hit = self.get_hit(song_id)
        with self._write_lock:
            self._check_open()
            self.store.delete(self.spec, [song_id])
            self._release_files([hit])

    def _release_files(self, hits: list[Hit]) -> None:
        """Delete the kept files of these (former) payloads that no stored song references
        any more. Called under the write lock, after the store was changed."""
        for ref in {AudioRef.from_dict(h.payload.get("audio_file")) for h in hits} - {None}:
            if not self.store.count(self.spec, filter=Filter(
                    must=(Match("audio_sha256", (ref.sha256,)),))):
                self.audio_files.remove(ref)

    def audio_file(self, song_id: str) -> AudioRef:
        """The song's kept audio file (raises NotFound when it has none, or it is gone)."""
        ref = AudioRef.from_dict(self.get(song_id).audio_file)
        if ref is None or not self.audio_files.exists(ref):
            raise NotFound(f"song {song_id!r} has no kept audio", song_id=song_id)
        return ref

    # -- reads --------------------------------------------------------------------------------
    def _hits_with(self, cond: Match) -> list[Hit]:
        hits, _ = self.store.scroll(self.spec, filter=Filter(must=(cond,)), limit=100,
                                    fields=["audio_file"])
        return hits

    def get_hit(self, song_id: str, *, with_vectors: bool | Sequence[str] = False,
                fields: Sequence[str] | None = None) -> Hit:
        """One song's point: its payload (only ``fields`` when given) and the vectors asked for
        (``True``: all of them, a multivector included)."""
        hits = self.store.get(self.spec, [song_id], with_vectors=with_vectors, fields=fields)
        if not hits:
            raise NotFound(f"no song with song_id {song_id!r}", song_id=song_id)
        return hits[0]

    def get(self, song_id: str) -> SongRecord:
        return SongRecord.from_payload(self.get_hit(song_id).payload)

    def count(self) -> int:
        return self.store.count(self.spec)

    def tag_query_vector(self, wanted: dict[str, dict[str, float]]) -> np.ndarray:
        """A query in the ``tags`` space for tags with weights ``{dim: {tag: weight}}``."""
        from songlens.content.text.vectors import tag_profile_vector

        tags = {d: [{"tag": t, "score": float(w)} for t, w in ts.items()]
                for d, ts in wanted.items()}
        return tag_profile_vector(tags, self.taxonomy)
