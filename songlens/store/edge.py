"""Embedded backend: Qdrant Edge, the Qdrant engine in-process (one shard directory per
collection, WAL on, HNSW, payload indexes, sparse vectors with the IDF modifier)."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as qe

from songlens.errors import (
    ConfigError,
    StoreBusy,
    StoreError,
    VectorSizeMismatch,
)
from songlens.store.base import (
    FIRST_EF,
    INT8_QUANTILE,
    CollectionSpec,
    Filter,
    Hit,
    Match,
    Point,
    Range,
    VectorStore,
    WithVectors,
    payload_selector,
    point_id,
    stored_payload,
    unpack_payload,
    vector_selector,
)
from songlens.store.edge_index import IndexState, SwapGate, recover
from songlens.store.edge_live import LiveIndexMixin
from songlens.store.edge_recall import measure, search_params
from songlens.store.edge_snapshots import write_shard_tar

__all__ = ["EdgeStore"]

RRF_K = 60  # reciprocal rank fusion constant, the same on both backends

log = logging.getLogger(__name__)
T = TypeVar("T")

_INDEX = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "float": qe.PayloadSchemaType.Float,
    "integer": qe.PayloadSchemaType.Integer,
    "bool": qe.PayloadSchemaType.Bool,
    "datetime": qe.PayloadSchemaType.Datetime,
}


def _condition(c: Match | Range) -> Any:
    if isinstance(c, Match):
        vals = list(c.values)
        if len(vals) == 1:
            return qe.FieldCondition(key=c.key, match=qe.MatchValue(vals[0]))
        return qe.FieldCondition(key=c.key, match=qe.MatchAny(vals))
    return qe.FieldCondition(key=c.key, range=qe.RangeFloat(gte=c.gte, lte=c.lte, gt=c.gt,
                                                            lt=c.lt))


def _filter(spec: CollectionSpec, f: Filter | None) -> qe.Filter | None:
    if not f:
        return None
    f.check(spec)
    must_not = [_condition(c) for c in f.must_not]
    if f.exclude_keys:
        must_not.append(qe.HasIdCondition({point_id(spec.name, k) for k in f.exclude_keys}))
    return qe.Filter(must=[_condition(c) for c in f.must] or None,
                     should=[_condition(c) for c in f.should] or None,
                     must_not=must_not or None)


def _query_vector(v: np.ndarray | tuple[list[int], list[float]]) -> Any:
    if isinstance(v, tuple):
        return qe.SparseVector(indices=list(v[0]), values=[float(x) for x in v[1]])
    return np.asarray(v, dtype=np.float32).tolist()


def _stored_sizes(where: Path) -> dict[str, int]:
    """Dense vector sizes an existing collection was created with ({} when unreadable)."""
    try:
        config = json.loads((where / "edge_config.json").read_text("utf-8"))
        return {name: int(v["size"]) for name, v in (config.get("vectors") or {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _open_error(spec: CollectionSpec, where: Path, exc: Exception
                ) -> StoreError | ConfigError | VectorSizeMismatch:
    """Say why a collection did not open: held by another process, written with other vector
    sizes, or (anything else) the engine's own words."""
    if "WouldBlock" in str(exc):
        return StoreBusy(
            f"the store at {str(where.parent)!r} is open in another process (a running "
            "'songlens serve' or another command holds it); stop that process, or give this "
            "one another data_dir")
    stored = _stored_sizes(where)
    wanted = dict(spec.dense) | dict(spec.multi)
    changed = {n: (stored[n], wanted[n]) for n in wanted if n in stored and stored[n] != wanted[n]}
    if changed:
        sizes = ", ".join(f"{n} {old} there, {new} now" for n, (old, new) in changed.items())
        return VectorSizeMismatch(
            f"the vector dimensions changed since collection {spec.name!r} at {str(where)!r} was "
            f"written (sizes: {sizes}: another audio or text model); point data_dir at a new "
            "folder, or delete this one and re-ingest", changed=changed)
    return ConfigError(f"cannot open collection {spec.name!r} at {str(where)!r}: {exc}")


class EdgeStore(LiveIndexMixin, VectorStore):
    """Collections as Qdrant Edge shards under ``path`` (``path/<collection>``)."""

    backend = "edge"

    def __init__(self, path: str | Path, *, hnsw_m: int = 16, hnsw_ef_construct: int = 100,
                 full_scan_threshold: int = 10000, search_threads: int | None = None,
                 indexing_threshold_kb: int | None = None,
                 hnsw_ef: int | str | None = None, quantization: str | None = None,
                 oversampling: float = 2.0, recall_target: float = 0.98) -> None:
        self.path = Path(path)
        #: segments larger than this get an HNSW index when optimised (None: the engine's)
        self._indexing_kb = indexing_threshold_kb
        self.path.mkdir(parents=True, exist_ok=True)
        self._hnsw = (hnsw_m, hnsw_ef_construct, full_scan_threshold)
        self._threads = search_threads
        # int8 copies of the dense vectors (graph built and searched on them, candidates
        # rescored with float32). A store written with them kept them when opened with "none",
        # also after a build (checked once); "none" then searches the float32 vectors only
        self._quant = (quantization, oversampling)
        # search-time beam width: a number, None (the engine's default, ef_construct) or
        # "auto": per named vector, the narrowest that reached ``recall_target`` on the
        # collection's own points after its last build (edge_recall.py)
        self._auto_ef = hnsw_ef == "auto"
        self._fixed_ef = hnsw_ef if isinstance(hnsw_ef, int) else None
        self.recall_target = recall_target
        self._shards: dict[str, qe.EdgeShard] = {}
        # writes, opening and closing take the lock; reads only share the gate, which a swap
        # of a rebuilt index takes alone (edge_index.py): reads go on while writes wait for
        # a copy or a snapshot
        self._lock = threading.RLock()
        self._gate = SwapGate()
        self._index: dict[str, IndexState] = {}
        self._journals: dict[str, list[tuple[Any, int]]] = {}

    # -- helpers ------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            with self._lock:
                return fn()
        except (StoreError, ConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 - every engine error becomes ours
            raise StoreError(f"qdrant edge: {what} failed: {exc}") from exc

    def _read(self, spec: CollectionSpec, what: str, fn: Callable[[qe.EdgeShard], T]) -> T:
        """``fn(shard)`` beside other reads and writes; only a swap waits for it."""
        self._shard(spec)
        try:
            with self._gate.shared():
                return fn(self._shards[spec.name])
        except (StoreError, ConfigError):
            raise
        except Exception as exc:  # noqa: BLE001 - every engine error becomes ours
            raise StoreError(f"qdrant edge: {what} failed: {exc}") from exc

    def _write(self, spec: CollectionSpec, what: str, op: Any, points: int) -> None:
        """Apply ``op``; journalled while the collection's index is being rebuilt."""
        with self._lock:
            self._read(spec, what, lambda shard: shard.update(op))
            if spec.name in self._journals:
                self._journals[spec.name].append((op, points))
            self._index[spec.name].unindexed += points

    def _shard(self, spec: CollectionSpec) -> qe.EdgeShard:
        shard = self._shards.get(spec.name)
        if shard is None:
            self.ensure_collection(spec)
            shard = self._shards[spec.name]
        return shard

    def _config(self, spec: CollectionSpec) -> qe.EdgeConfig:
        m, ef, fst = self._hnsw
        int8 = (qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=INT8_QUANTILE,
                                            always_ram=True)
                if self._quant[0] == "int8" else None)
        return qe.EdgeConfig(
            vectors={name: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine,
                                               quantization_config=int8)
                     for name, dim in spec.dense.items()} | {
                name: qe.EdgeVectorParams(
                    size=dim, distance=qe.Distance.Cosine, on_disk=True,
                    datatype=qe.VectorStorageDatatype.Float16,
                    multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                    hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=ef, full_scan_threshold=fst))
                for name, dim in spec.multi.items()},
            sparse_vectors={name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)
                            for name in spec.sparse} or None,
            hnsw_config=qe.HnswIndexConfig(m=m, ef_construct=ef, full_scan_threshold=fst),
            max_search_threads=self._threads,
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self._indexing_kb)
            if self._indexing_kb is not None else None,
        )

    def _params(self, spec: CollectionSpec, using: str) -> qe.SearchParams | None:
        """The search parameters for vector ``using``: the configured width, or with "auto" the
        one measured after the last build (FIRST_EF before one), in float32 where the int8
        copies missed the target (edge_recall.py)."""
        ef, (quantization, oversampling) = self._fixed_ef, self._quant
        if self._auto_ef:
            st = self._index.get(spec.name)
            ef = ((st.hnsw_ef if st else None) or {}).get(using, FIRST_EF)
            if st and using in (st.float32 or ()) and quantization == "int8":
                quantization = "none"
        return search_params(ef, quantization, oversampling)

    def measure_args(self, spec: CollectionSpec) -> list[str]:
        """What the index build measures after optimising (edge_recall.py), as arguments of
        ``python -m songlens.store.edge_index``; [] when the beam width is not "auto"."""
        if not self._auto_ef or not spec.dense:
            return []
        quantization, oversampling = self._quant
        return ["--measure", ",".join(spec.dense), "--recall-target", str(self.recall_target),
                "--quantization", quantization or "", "--oversampling", str(oversampling)]

    def _hit(self, spec: CollectionSpec, p: Any, score: float | None = None,
             fields: Sequence[str] | None = None) -> Hit:
        payload = unpack_payload(spec, dict(p.payload or {}), fields)
        vectors = None
        if getattr(p, "vector", None):
            vectors = {k: (np.asarray(v, dtype=np.float32) if isinstance(v, list) else v)
                       for k, v in dict(p.vector).items()}
        return Hit(key=str(payload.get(spec.key_field, p.id)),
                   score=float(score if score is not None else getattr(p, "score", 0.0)),
                   payload=payload, vectors=vectors)

    # -- interface ----------------------------------------------------------------------------
    def ensure_collection(self, spec: CollectionSpec) -> None:
        with self._lock:
            if spec.name in self._shards:
                return
            where = self.path / spec.name
            config = self._config(spec)
            try:
                recover(self.path, spec.name)
                if (where / "edge_config.json").exists() or any(where.glob("*")):
                    shard = qe.EdgeShard.load(str(where), config)
                else:
                    shard = qe.EdgeShard.create(str(where), config)
                    for fld, kind in spec.indexes.items():
                        shard.update(qe.UpdateOperation.create_field_index(fld, _INDEX[kind]))
            except Exception as exc:  # noqa: BLE001
                raise _open_error(spec, where, exc) from exc
            self._shards[spec.name] = shard
            self._index[spec.name] = self._initial_state(spec.name, shard)

    def collection_sizes(self, name: str) -> dict[str, int] | None:
        where = self.path / name
        if not (where / "edge_config.json").exists():
            return None
        return _stored_sizes(where)

    def drop_collection(self, spec: CollectionSpec) -> None:
        with self._lock, self._gate.exclusive():
            shard = self._shards.pop(spec.name, None)
            self._index.pop(spec.name, None)
            if shard is not None:
                self._call("close", shard.close)
            where = self.path / spec.name
            if where.exists():
                self._call("drop", lambda: shutil.rmtree(where))

    def upsert(self, spec: CollectionSpec, points: Sequence[Point]) -> None:
        qpoints = []
        for p in points:
            vec: dict[str, Any] = {k: np.asarray(v, dtype=np.float32).tolist()
                                   for k, v in p.vectors.items()}
            for k, (idx, val) in p.sparse.items():
                vec[k] = qe.SparseVector(indices=list(idx), values=[float(x) for x in val])
            qpoints.append(qe.Point(id=point_id(spec.name, p.key), vector=vec,
                                    payload=stored_payload(spec, p.key, p.payload)))
        self._write(spec, "upsert", qe.UpdateOperation.upsert_points(qpoints), len(qpoints))

    def get(self, spec: CollectionSpec, keys: Sequence[str], *,
            with_vectors: WithVectors = False, fields: Sequence[str] | None = None) -> list[Hit]:
        ids = [point_id(spec.name, k) for k in keys]
        select = vector_selector(with_vectors)
        payload = payload_selector(spec, fields)
        recs = self._read(spec, "retrieve", lambda shard: shard.retrieve(
            ids, with_payload=payload, with_vector=select))
        by_key = {h.key: h for h in (self._hit(spec, r, 0.0, fields) for r in recs)}
        return [by_key[k] for k in keys if k in by_key]

    def delete(self, spec: CollectionSpec, keys: Sequence[str]) -> None:
        ids = [point_id(spec.name, k) for k in keys]
        self._write(spec, "delete", qe.UpdateOperation.delete_points(ids), 0)

    def search(self, spec, *, using, vector, limit=10, filter=None, with_vectors=False,
               fields=None, score_threshold=None):
        req = qe.QueryRequest(limit=limit, query=qe.Query.Nearest(_query_vector(vector), using),
                              filter=_filter(spec, filter), score_threshold=score_threshold,
                              with_payload=payload_selector(spec, fields),
                              with_vector=vector_selector(with_vectors),
                              params=self._params(spec, using))
        return [self._hit(spec, p, fields=fields)
                for p in self._read(spec, "search", lambda s: s.query(req))]

    def hybrid(self, spec, *, prefetch, limit=10, filter=None):
        flt = _filter(spec, filter)
        pre = [qe.Prefetch(limit=p.limit, query=qe.Query.Nearest(_query_vector(p.vector),
                                                                   p.using), filter=flt,
                           params=self._params(spec, p.using)) for p in prefetch]
        req = qe.QueryRequest(limit=limit, prefetches=pre, query=qe.Fusion.Rrf(k=RRF_K),
                              filter=flt, with_payload=True)
        return [self._hit(spec, p) for p in self._read(spec, "hybrid", lambda s: s.query(req))]

    def rerank(self, spec, *, prefetch, using, vectors, limit=10, filter=None):
        flt = _filter(spec, filter)
        pre = qe.Prefetch(limit=prefetch.limit, filter=flt,
                          params=self._params(spec, prefetch.using),
                          query=qe.Query.Nearest(_query_vector(prefetch.vector), prefetch.using))
        req = qe.QueryRequest(limit=limit, prefetches=[pre], filter=flt, with_payload=True,
                              query=qe.Query.Nearest(_query_vector(vectors), using))
        return [self._hit(spec, p) for p in self._read(spec, "rerank", lambda s: s.query(req))]

    def recommend(self, spec, *, using, positive, negative=(), limit=10, filter=None,
                  fields=None, score_threshold=None):
        rq = qe.RecommendQuery(positives=[_query_vector(v) for v in positive],
                               negatives=[_query_vector(v) for v in negative])
        req = qe.QueryRequest(limit=limit, query=qe.Query.RecommendBestScore(rq, using),
                              filter=_filter(spec, filter), params=self._params(spec, using),
                              score_threshold=score_threshold,
                              with_payload=payload_selector(spec, fields))
        return [self._hit(spec, p, fields=fields)
                for p in self._read(spec, "recommend", lambda s: s.query(req))]

    def scroll(self, spec, *, filter=None, limit=100, offset=None, with_vectors=False,
               fields=None):
        req = qe.ScrollRequest(offset=offset, limit=limit, filter=_filter(spec, filter),
                               with_payload=payload_selector(spec, fields),
                               with_vector=vector_selector(with_vectors))
        recs, nxt = self._read(spec, "scroll", lambda s: s.scroll(req))
        return ([self._hit(spec, r, 0.0, fields) for r in recs],
                str(nxt) if nxt is not None else None)

    def count(self, spec, *, filter=None):
        req = qe.CountRequest(exact=True, filter=_filter(spec, filter))
        return int(self._read(spec, "count", lambda s: s.count(req)))

    def ordered(self, spec, *, order_by, descending=False, offset=0, limit=10, filter=None,
                fields=None):
        # two steps: the engine reads the payload of every point it skips when asked for
        # payloads with an offset (2.3 s at offset 9,000 of 10k songs, against 55 ms this way)
        direction = qe.Direction.Desc if descending else qe.Direction.Asc
        req = qe.QueryRequest(limit=offset + limit, query=qe.OrderBy(order_by, direction),
                              filter=_filter(spec, filter), with_payload=False,
                              with_vector=False)
        ids = [p.id for p in self._read(spec, "ordered", lambda s: s.query(req))[offset:]]
        if not ids:
            return []
        recs = self._read(spec, "retrieve", lambda s: s.retrieve(
            ids, with_payload=payload_selector(spec, fields), with_vector=False))
        by_id = {str(r.id): r for r in recs}
        return [self._hit(spec, by_id[str(i)], 0.0, fields) for i in ids if str(i) in by_id]

    def facet(self, spec, key, *, filter=None, limit=100):
        req = qe.FacetRequest(key=key, limit=limit, exact=True, filter=_filter(spec, filter))
        res = self._read(spec, "facet", lambda s: s.facet(req))
        return sorted(((h.value, int(h.count)) for h in res.hits),
                      key=lambda vc: (-vc[1], str(vc[0])))

    def optimize(self, spec: CollectionSpec) -> None:
        """Build the index in this process: everything else here waits (the engine holds the
        GIL); for a store that serves, :meth:`rebuild_index` builds it out of process."""
        with self._lock:
            t0 = time.perf_counter()
            self._read(spec, "optimize", lambda s: s.optimize())
            measured = None
            if self._auto_ef and spec.dense:
                try:  # the build stands without it: the last widths stay in use
                    measured = self._read(spec, "measure", lambda s: measure(
                        s, list(spec.dense), *self._quant, target=self.recall_target))
                except StoreError as exc:
                    log.warning("measuring the beam width of %s failed: %s", spec.name, exc)
            self._built(spec.name, self.count(spec), time.perf_counter() - t0, unindexed=0,
                        measured=measured)

    def snapshot(self, name: str, dest: Path) -> int | None:
        """The collection's shard folder, flushed, as a tar file: the shard snapshot that
        ``EdgeShard.unpack_snapshot`` restores (qdrant-edge-py 0.9.0 has no call that writes
        one). Writes wait while the files are copied (reads go on), so the copy is a point in
        time; a collection not open here is opened for the copy (and refused with
        :class:`StoreBusy` while another process holds it).

        GNU tar writes it (:func:`~songlens.store.edge_snapshots.write_shard_tar`)."""
        where = self.path / name
        with self._lock:
            shard, opened_here = self._shards.get(name), False
            if shard is None:
                if not (where / "edge_config.json").exists():
                    return None
                try:
                    shard, opened_here = qe.EdgeShard.load(str(where)), True
                except Exception as exc:  # noqa: BLE001
                    if "WouldBlock" in str(exc):
                        raise StoreBusy(f"collection {name!r} is open in another process") \
                            from exc
                    raise StoreError(f"qdrant edge: cannot open collection {name!r}") from exc
            try:
                shard.flush()
                n = int(shard.count(qe.CountRequest(exact=True)))
                write_shard_tar(where, dest, name=name)
            except OSError as exc:
                raise StoreError(f"qdrant edge: snapshot of {name!r} failed: "
                                 f"{exc.strerror or type(exc).__name__}") from exc
            finally:
                if opened_here:
                    shard.close()
            return n

    def close(self) -> None:
        with self._lock, self._gate.exclusive():
            for name, shard in self._shards.items():
                try:
                    shard.flush()
                    shard.close()
                except Exception as exc:  # noqa: BLE001
                    log.warning("closing shard %s: %s", name, exc)
            self._shards.clear()
