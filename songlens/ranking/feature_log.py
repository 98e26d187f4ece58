"""The features ``/v1/rank`` served, logged under the request id, so training sees exactly them.

One row per rank request in ``<data_dir>/ranker/served.sqlite``: the request id, when, for
whom, and one zlib-compressed JSON blob ``{song_id: {feature: value}}`` (the names repeat from
item to item, so a 50-item request packs to a few kB). An impression that names the request
(``request_id``) is trained with the features of its song in that blob; floats go through JSON
by their shortest exact repr, so what is read back equals what was served. Rows older than
``keep_s`` are pruned as new ones come.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import zlib
from collections.abc import Mapping
from pathlib import Path

from songlens.errors import StoreError

__all__ = ["FeatureLog", "pack_features", "unpack_features"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS served (
    request_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    user_id TEXT NOT NULL,
    features BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_served_ts ON served(ts);
"""


def pack_features(items: Mapping[str, Mapping[str, float]]) -> bytes:
    """``{song_id: features}`` → compressed bytes (exact floats)."""
    return zlib.compress(json.dumps(items, separators=(",", ":"), ensure_ascii=False,
                                    allow_nan=False).encode("utf-8"), 6)


def unpack_features(blob: bytes) -> dict[str, dict[str, float]]:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


class FeatureLog:
    """Served features by request id (a SQLite file; one connection, a lock)."""

    def __init__(self, path: str | Path, *, keep_s: float = 3 * 86_400.0) -> None:
        self.path = Path(path)
        self.keep_s = keep_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cache: tuple[str, dict[str, dict[str, float]]] | None = None
        self._n = 0
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the served-feature log: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, request_id: str, *, user_id: str, ts: float,
               items: Mapping[str, Mapping[str, float]]) -> int:
        """Log one request's features; returns the compressed size in bytes."""
        blob = pack_features(items)
        with self._lock:
            try:
                self._db.execute("INSERT OR REPLACE INTO served(request_id, ts, user_id, "
                                 "features) VALUES (?,?,?,?)", (request_id, ts, user_id, blob))
                self._n += 1
                if self._n % 500 == 0:
                    self._db.execute("DELETE FROM served WHERE ts < ?",
                                     (time.time() - self.keep_s,))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot log served features: {exc}") from exc
        return len(blob)

    def get(self, request_id: str, song_id: str) -> dict[str, float] | None:
        """The features ``song_id`` was served with in ``request_id`` (None: not logged)."""
        with self._lock:
            if self._cache is not None and self._cache[0] == request_id:
                return self._cache[1].get(song_id)
            row = self._db.execute("SELECT features FROM served WHERE request_id = ?",
                                   (request_id,)).fetchone()
            if row is None:
                return None
            items = unpack_features(row[0])
            self._cache = (request_id, items)  # impressions of one request come together
            return items.get(song_id)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM served").fetchone()[0])
