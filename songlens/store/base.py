"""The vector store interface: one API, two Qdrant backends (embedded Edge, or a server).

Callers speak in their own keys (``song_id``, ``user_id``); a store turns each key into a stable
Qdrant point id (:func:`point_id`) and keeps the key in the payload. Filters are our own small
types, translated by each backend, so no Qdrant model leaks past this package, and every Qdrant
error becomes a :class:`songlens.errors.StoreError`.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from songlens.errors import StoreError

__all__ = [
    "CollectionSpec", "Point", "Hit", "Match", "PackedFieldFilter", "Range", "Filter", "Prefetch",
    "VectorStore", "WithVectors", "pack_payload", "payload_selector", "point_id",
    "stored_payload", "unpack_payload", "vector_selector",
]

#: Namespace of songlens point ids: uuid5(NAMESPACE, "<collection>:<key>").
NAMESPACE = uuid.UUID("6f1c2a5e-9a57-4a0c-8b0e-5f3c1d2e7a10")

IndexType = Literal["keyword", "float", "integer", "bool", "datetime"]
#: The payload field holding a collection's packed fields (:attr:`CollectionSpec.packed`).
PACKED_FIELD = "_packed"
#: int8 copies of dense vectors (``quantization: int8``) span the central 99 % of the values
#: (the engine's documented default); the rest clip, and the float32 rescoring puts them right.
INT8_QUANTILE = 0.99
#: On a Qdrant server, where nothing of ours measures after a build which vectors lose recall
#: in int8, only vectors this wide get int8 copies: the 71 tag probabilities, mostly zeros,
#: reached recall@10 0.86 in int8 at 100k songs, and their float32 copies are small anyway.
INT8_SERVER_MIN_DIM = 128
#: The beam width of ``hnsw_ef: auto`` before a build has measured one (edge_recall.py), and
#: on a Qdrant server, which has no build of ours to measure after.
FIRST_EF = 128
#: ``True`` for every named vector, ``False`` for none, or the names wanted.
WithVectors = bool | Sequence[str]


def vector_selector(with_vectors: WithVectors) -> bool | list[str]:
    """What both Qdrant clients take for ``with_vector(s)``."""
    return with_vectors if isinstance(with_vectors, bool) else list(with_vectors)


def _top(path: str) -> str:
    """The top-level field of a payload path (``tags.style[].tag`` → ``tags``)."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def payload_selector(spec: CollectionSpec, fields: Sequence[str] | None) -> bool | list[str]:
    """What both Qdrant clients take for ``with_payload``: everything (``fields`` is None) or
    the named fields plus the key, which every :class:`Hit` needs (and the packed field when a
    named field lives in it)."""
    if fields is None:
        return True
    packed = [PACKED_FIELD] if any(_top(f) in spec.packed for f in fields) else []
    return list(dict.fromkeys([spec.key_field, *fields, *packed]))


def pack_payload(spec: CollectionSpec, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as stored: the fields in ``spec.packed`` as one compressed string.

    The engine decodes a point's whole payload whenever it returns any of it, and the cost grows
    with the number of JSON values, not their bytes: a song's tag evidence, timelines and
    probabilities made every search hit cost about 0.1 ms even when only its key was asked for.
    As one base64 string (no escapes to undo) they cost a quarter of that (benchmarks/RESULTS.md,
    "Packed payloads, lookups at 100k and memory")."""
    if not spec.packed:
        return payload
    kept = {k: v for k, v in payload.items() if k not in spec.packed}
    inner = {k: payload[k] for k in spec.packed if k in payload}
    if inner:
        raw = json.dumps(inner, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        kept[PACKED_FIELD] = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    return kept


def stored_payload(spec: CollectionSpec, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What both backends write for a point: its payload packed, with its key."""
    stored = pack_payload(spec, dict(payload))
    stored[spec.key_field] = key
    return stored


def unpack_payload(spec: CollectionSpec, payload: dict[str, Any],
                   fields: Sequence[str] | None = None) -> dict[str, Any]:
    """A stored payload as written: the packed fields back in place (only those ``fields``
    names, when given). Points written before a field was packed keep it inline, and read as
    they were."""
    blob = payload.pop(PACKED_FIELD, None)
    if blob is None:
        return payload
    try:
        inner = json.loads(zlib.decompress(base64.b64decode(blob)))
    except (ValueError, TypeError, zlib.error) as exc:
        raise StoreError(f"a stored payload of collection {spec.name!r} is damaged: "
                         f"{type(exc).__name__}") from exc
    wanted = None if fields is None else {_top(f) for f in fields}
    for k, v in inner.items():
        if (wanted is None or k in wanted) and k not in payload:
            payload[k] = v
    return payload


def point_id(collection: str, key: str) -> str:
    """Deterministic Qdrant point id (a UUID string) for ``key`` in ``collection``."""
    return str(uuid.uuid5(NAMESPACE, f"{collection}:{key}"))


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection holds.

    ``dense`` maps vector names to dimensions (cosine distance); ``sparse`` names the sparse
    vectors (stored with Qdrant's IDF modifier); ``multi`` maps multivector names to dimensions
    (cosine, MaxSim, float16 on disk, no HNSW graph: they only re-rank a prefetch, see
    :meth:`VectorStore.rerank`); ``indexes`` maps payload fields to index types; ``packed`` names
    top-level payload fields that are stored together as one compressed value
    (:func:`pack_payload`): callers read and write them as any other field, but cannot filter,
    facet or order by them, and reading any of them reads them all.
    """

    name: str
    key_field: str
    dense: dict[str, int]
    sparse: tuple[str, ...] = ()
    indexes: dict[str, IndexType] = field(default_factory=dict)
    multi: dict[str, int] = field(default_factory=dict)
    packed: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        clash = set(self.packed) & (set(self.indexes) | {self.key_field})
        if clash:
            raise ValueError(f"packed fields cannot be indexed or the key: {sorted(clash)}")


@dataclass
class Point:
    key: str
    vectors: dict[str, np.ndarray]
    payload: dict[str, Any]
    sparse: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)


@dataclass
class Hit:
    key: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, np.ndarray] | None = None


class PackedFieldFilter(ValueError):
    """A filter names a packed field (a caller's mistake, raised as is by both backends)."""


@dataclass(frozen=True)
class Match:
    """``key`` equals one of ``values`` (a list payload matches if any element does)."""

    key: str
    values: tuple[str | int | bool, ...]


@dataclass(frozen=True)
class Range:
    key: str
    gte: float | None = None
    lte: float | None = None
    gt: float | None = None
    lt: float | None = None


Condition = Match | Range


@dataclass(frozen=True)
class Filter:
    must: tuple[Condition, ...] = ()
    must_not: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()
    exclude_keys: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.must or self.must_not or self.should or self.exclude_keys)

    def check(self, spec: CollectionSpec) -> None:
        """Refuse a condition on a packed field: the engine cannot see into the packed value, so
        the filter would match nothing (or everything, under ``must_not``) without a word."""
        for c in (*self.must, *self.must_not, *self.should):
            if _top(c.key) in spec.packed:
                raise PackedFieldFilter(f"cannot filter collection {spec.name!r} on the packed "
                                        f"field {c.key!r}")

    def and_(self, other: Filter | None) -> Filter:
        if other is None:
            return self
        return Filter(self.must + other.must, self.must_not + other.must_not,
                      self.should + other.should, self.exclude_keys + other.exclude_keys)


@dataclass(frozen=True)
class Prefetch:
    """One stage of a hybrid query: a dense vector or a sparse ``(indices, values)`` pair."""

    using: str
    vector: np.ndarray | tuple[list[int], list[float]]
    limit: int = 100


class VectorStore(ABC):
    """Operations songlens needs from Qdrant, identical on both backends."""

    backend: str = "abstract"

    @abstractmethod
    def ensure_collection(self, spec: CollectionSpec) -> None:
        """Create the collection (and its payload indexes) or check an existing one matches."""

    @abstractmethod
    def upsert(self, spec: CollectionSpec, points: Sequence[Point]) -> None:
        """Insert or replace points, atomically per point (vectors and payload together)."""

    @abstractmethod
    def get(self, spec: CollectionSpec, keys: Sequence[str], *,
            with_vectors: WithVectors = False, fields: Sequence[str] | None = None
            ) -> list[Hit]:
        """Points by key, in the order asked; missing keys are left out.

        ``with_vectors`` (here and in ``search``/``scroll``): ``True`` for every named vector, or
        the names wanted (``["fused"]``): converting a multivector nobody reads costs time.
        ``fields`` (here and in ``search``/``recommend``/``scroll``): only these payload fields
        (the key always comes; nested paths such as ``tags.style[].tag`` allowed): a shortlist
        fetched again later need not carry payloads, an answer only the fields it shows."""

    @abstractmethod
    def delete(self, spec: CollectionSpec, keys: Sequence[str]) -> None: ...

    @abstractmethod
    def search(self, spec: CollectionSpec, *, using: str,
               vector: np.ndarray | tuple[list[int], list[float]], limit: int = 10,
               filter: Filter | None = None, with_vectors: WithVectors = False,
               fields: Sequence[str] | None = None,
               score_threshold: float | None = None) -> list[Hit]:
        """Nearest points by one named vector (dense array or sparse ``(indices, values)``);
        with ``score_threshold``, only those scoring at least that (the engine reads no payload
        for the others)."""

    @abstractmethod
    def hybrid(self, spec: CollectionSpec, *, prefetch: Sequence[Prefetch], limit: int = 10,
               filter: Filter | None = None) -> list[Hit]:
        """Several searches fused by reciprocal rank fusion (Qdrant prefetch + RRF)."""

    @abstractmethod
    def rerank(self, spec: CollectionSpec, *, prefetch: Prefetch, using: str,
               vectors: np.ndarray, limit: int = 10, filter: Filter | None = None) -> list[Hit]:
        """Candidates from one prefetch search, re-scored by the multivector ``using`` with
        MaxSim: for each query row its best match among the point's rows, summed."""

    @abstractmethod
    def recommend(self, spec: CollectionSpec, *, using: str, positive: Sequence[np.ndarray],
                  negative: Sequence[np.ndarray] = (), limit: int = 10,
                  filter: Filter | None = None, fields: Sequence[str] | None = None,
                  score_threshold: float | None = None) -> list[Hit]:
        """Qdrant's recommend query (best-score strategy) from example vectors
        (``score_threshold`` as in :meth:`search`)."""

    @abstractmethod
    def scroll(self, spec: CollectionSpec, *, filter: Filter | None = None, limit: int = 100,
               offset: str | None = None, with_vectors: WithVectors = False,
               fields: Sequence[str] | None = None) -> tuple[list[Hit], str | None]:
        """One page of points matching ``filter``; returns (hits, next offset or None)."""

    @abstractmethod
    def ordered(self, spec: CollectionSpec, *, order_by: str, descending: bool = False,
                offset: int = 0, limit: int = 10, filter: Filter | None = None,
                fields: Sequence[str] | None = None) -> list[Hit]:
        """One page of the points matching ``filter``, ordered by the float-indexed payload
        field ``order_by`` (points without it are left out): ``offset`` points skipped, at most
        ``limit`` returned, payload ``fields`` only (nested paths such as
        ``tags.style[].tag`` allowed), no vectors."""

    @abstractmethod
    def count(self, spec: CollectionSpec, *, filter: Filter | None = None) -> int: ...

    @abstractmethod
    def facet(self, spec: CollectionSpec, key: str, *, filter: Filter | None = None,
              limit: int = 100) -> list[tuple[str | int | bool, int]]:
        """The values of the indexed keyword field ``key`` among the points matching
        ``filter``, with how many points carry each (a list field counts once per point),
        most frequent first (ties by value), at most ``limit``; exact counts. Counted by the
        engine from its payload index: no payload is read into memory."""

    def optimize(self, spec: CollectionSpec) -> None:  # noqa: B027 - a server needs nothing
        """Build the search indexes (HNSW graphs) for what was written since the last call.

        A Qdrant server does this in the background; the embedded engine has no background
        optimizer, so without this call every search is an exact full scan (correct, but linear
        in the catalogue: benchmarks/RESULTS.md)."""

    def index_state(self, spec: CollectionSpec) -> Any:
        """How current the collection's search index is (the embedded store's
        :class:`~songlens.store.edge_index.IndexState`), or None where the backend keeps its
        index current itself (a Qdrant server optimises in the background)."""
        return None

    def rebuild_index(self, spec: CollectionSpec, cancel: Any = None, *, nice: int = 10) -> bool:
        """Bring the search index up to date without stopping reads; True when a new index
        was put in place. A server does this itself: nothing to do."""
        return False

    @abstractmethod
    def collection_sizes(self, name: str) -> dict[str, int] | None:
        """The dense and multivector sizes collection ``name`` was created with (None: no such
        collection). Reads the stored configuration; opens nothing."""

    @abstractmethod
    def drop_collection(self, spec: CollectionSpec) -> None:
        """Delete the collection and everything in it (no error when it does not exist)."""

    def snapshot(self, name: str, dest: Path) -> int | None:
        """Write a Qdrant snapshot of collection ``name`` to the file ``dest``, consistent as of
        the call (writes to it wait meanwhile); the number of points in it, or None when the
        collection does not exist."""
        raise StoreError(f"songlens writes snapshots of the embedded store only; back up a "
                         f"Qdrant server ({self.backend} backend) with its own snapshots "
                         "(POST /collections/{name}/snapshots)")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
