"""Re-embed a stored catalogue's text vectors with the configured text model (``songlens
reembed-text``), from the text each song keeps in its payload, without the audio model.

Each song is rewritten as one point (its audio, tags, segment and sparse vectors and payload
copied, ``text`` and ``fused`` recomputed), so an interrupted run leaves every song either old or
new, and running again carries on:

* same text dimension (e.g. MiniLM → e5-small, both 384-d): in place, the songs whose payload
  names another text model;
* another dimension (e.g. MiniLM 384 → USE 512): Qdrant cannot resize a vector, so the songs are
  written to a staging collection ``<name>__reembed``, the old collection is dropped once the
  staging one holds every song, and the staging one is copied back under the configured name.
  A run that stopped at any step resumes from what is on disk.

Songs written before the payload kept their text (``text_source``) get the English description
of their tags, as MiniLM had for Chinese songs; the report counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from songlens.catalog.analysis import fuse_vectors
from songlens.catalog.record import SongRecord, songs_spec
from songlens.catalog.text_vectors import song_text_input
from songlens.embeddings.encoders import TextEncoder
from songlens.embeddings.models import TEXT_MODELS, text_model_name
from songlens.errors import ConfigError, StoreError
from songlens.settings import Settings
from songlens.store import CollectionSpec, Filter, Hit, Match, Point, VectorStore

__all__ = ["COMMAND", "ReembedReport", "check_text_model", "reembed_text", "text_model_aliases"]

log = logging.getLogger(__name__)

#: the command that migrates a store; every message about a changed text model names it
COMMAND = "songlens reembed-text"
STAGING_SUFFIX = "__reembed"


@dataclass
class ReembedReport:
    model: str
    mode: str = "nothing to do"
    total: int = 0
    reembedded: int = 0
    from_description: int = 0
    copied: int = 0
    skipped: int = 0


def text_model_aliases(encoder: TextEncoder) -> tuple[str, ...]:
    """Every name a payload may record for ``encoder`` (its canonical name and aliases)."""
    canonical = text_model_name(encoder.name)
    return tuple(dict.fromkeys([encoder.name, canonical, *TEXT_MODELS.get(canonical, ())]))


def check_text_model(store: VectorStore, spec: CollectionSpec, encoder: TextEncoder) -> None:
    """A :class:`ConfigError` naming :data:`COMMAND` when stored songs were embedded by another
    text model of the same dimension (their vectors would not compare with the queries')."""
    hits, _ = store.scroll(spec, filter=Filter(must_not=(Match("models.text",
                                                                text_model_aliases(encoder)),)),
                           limit=1, fields=["models"])
    other = (hits[0].payload.get("models") or {}).get("text") if hits else None
    if other:
        raise ConfigError(
            f"the store's text vectors were made by text model {other!r}, and text.model is "
            f"{encoder.name!r}; run '{COMMAND}' (the server stopped) to re-embed them from the "
            "stored text, or set text.model back")


def dimension_message(spec: CollectionSpec, changed: dict[str, tuple[int | None, int]]) -> str:
    sizes = ", ".join(f"{n} {old} stored, {new} configured" for n, (old, new) in changed.items())
    return (f"the text model's dimension differs from the one collection {spec.name!r} was "
            f"written with ({sizes}); run '{COMMAND}' (the server stopped) to re-embed the text "
            "vectors from the stored text, without the audio models, or set text.model back")


def _point(hit: Hit, payload: dict[str, Any], **vectors: Any) -> Point:
    dense, sparse = {}, {}
    for name, v in {**(hit.vectors or {}), **vectors}.items():
        if hasattr(v, "indices"):
            sparse[name] = (list(v.indices), [float(x) for x in v.values])
        else:
            dense[name] = v
    return Point(key=hit.key, vectors=dense, payload=payload, sparse=sparse)


def _reembed_batch(hits: list[Hit], encoder: TextEncoder, settings: Settings,
                   report: ReembedReport) -> list[Point]:
    inputs = []
    for h in hits:
        rec = SongRecord.from_payload(h.payload)
        text, kind = song_text_input(encoder, source=rec.text_source or None, title=rec.title,
                                     tags=rec.tags, keywords=rec.keywords)
        report.from_description += not rec.text_source
        inputs.append((text, kind))
    vecs = encoder.encode([t for t, _ in inputs])
    points = []
    for h, (_, kind), vec in zip(hits, inputs, vecs, strict=True):
        payload = dict(h.payload)
        payload["models"] = {**(payload.get("models") or {}), "text": encoder.name,
                             "text_input": kind}
        fused = fuse_vectors(h.vectors["audio"], vec, audio_weight=settings.fusion.audio_weight,
                             text_weight=settings.fusion.text_weight)
        points.append(_point(h, payload, text=vec, fused=fused))
    return points


def _pages(store: VectorStore, spec: CollectionSpec, flt: Filter | None, batch: int):
    offset = None
    while True:
        hits, offset = store.scroll(spec, filter=flt, limit=batch, offset=offset,
                                    with_vectors=True)
        if hits:
            yield hits
        if offset is None:
            return


def _copy(store: VectorStore, src: CollectionSpec, dst: CollectionSpec, *,
          encoder: TextEncoder | None, settings: Settings, report: ReembedReport,
          flt: Filter | None = None, batch: int = 32,
          on_song: Callable[[int], None] | None = None) -> None:
    """Every song of ``src`` (matching ``flt``) not yet in ``dst`` into ``dst``, re-embedded when
    ``encoder`` is given, else copied as is; one point per song."""
    same = src.name == dst.name
    for hits in _pages(store, src, flt, batch):
        done = set() if same else {h.key for h in store.get(dst, [h.key for h in hits])}
        todo = [h for h in hits if h.key not in done]
        report.skipped += len(hits) - len(todo)
        if not todo:
            continue
        if encoder is not None:
            points = _reembed_batch(todo, encoder, settings, report)
            report.reembedded += len(points)
        else:
            points = [_point(h, dict(h.payload)) for h in todo]
            report.copied += len(points)
        for p in points:  # one point per call: a song is old or new, never half-written
            store.upsert(dst, [p])
        if on_song:
            on_song(len(hits))


def reembed_text(*, settings: Settings, store: VectorStore, encoder: TextEncoder,
                 batch: int = 32, on_song: Callable[[int], None] | None = None) -> ReembedReport:
    """Bring the configured collection's text vectors to ``encoder`` (see the module doc);
    ``on_song(n)`` after each page of ``batch`` songs."""
    name = settings.qdrant.collection
    report = ReembedReport(model=encoder.name)
    stored = store.collection_sizes(name)
    staged = store.collection_sizes(name + STAGING_SUFFIX)
    sizes = stored or staged
    if sizes is None:
        return report
    if not {"audio", "text", "tags"} <= set(sizes):
        raise StoreError(f"collection {name!r} does not hold songlens songs (vectors: "
                         f"{sorted(sizes)})")

    def spec(text_dim: int, suffix: str = "") -> CollectionSpec:
        s = songs_spec(name, audio_dim=sizes["audio"], text_dim=text_dim, tags_dim=sizes["tags"],
                       segment_dim=sizes.get("segments"), versions_dim=sizes.get("versions"))
        return replace(s, name=name + suffix)

    new, staging = spec(encoder.dim), spec(encoder.dim, STAGING_SUFFIX)
    if stored is not None and stored["text"] == encoder.dim and staged is None:
        store.ensure_collection(new)
        report.mode, report.total = "in place", store.count(new)
        other = Filter(must_not=(Match("models.text", text_model_aliases(encoder)),))
        _copy(store, new, new, encoder=encoder, settings=settings, report=report, flt=other,
              batch=batch, on_song=on_song)
        return report
    report.mode = "new dimension, via a staging collection"
    if stored is not None and stored["text"] != encoder.dim:
        old = spec(stored["text"])
        store.ensure_collection(old)
        store.ensure_collection(staging)
        report.total = store.count(old)
        _copy(store, old, staging, encoder=encoder, settings=settings, report=report,
              batch=batch, on_song=on_song)
        if store.count(staging) < report.total:
            raise StoreError(f"staging collection holds {store.count(staging)} of "
                             f"{report.total} songs; run '{COMMAND}' again")
        store.drop_collection(old)
        log.info("re-embedded %d songs into %s; old collection dropped", report.reembedded,
                 staging.name)
    store.ensure_collection(staging)
    store.ensure_collection(new)
    report.total = report.total or store.count(staging)
    _copy(store, staging, new, encoder=None, settings=settings, report=report)
    if store.count(new) < store.count(staging):
        raise StoreError(f"collection {name!r} holds {store.count(new)} of "
                         f"{store.count(staging)} songs; run '{COMMAND}' again")
    store.drop_collection(staging)
    return report
