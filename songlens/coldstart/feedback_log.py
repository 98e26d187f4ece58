"""Durable append-only feedback log in SQLite.

Durability: WAL journal with ``synchronous=FULL``, so the WAL is fsynced at every commit and a
batch that :meth:`FeedbackLog.append` has returned from survives a process crash *and* a power
loss (``NORMAL`` would survive a process crash but could lose the last commits on power loss; we
take the extra fsync per batch). A batch is one transaction: it lands whole or not at all.

Idempotency: every event has a key (the client's ``event_id`` or a hash of user, song, event and
ts, see :func:`songlens.coldstart.events.event_key`) under a UNIQUE constraint, so a retried batch
does not double-count. Per-song counts per event type live in a side table updated in the same
transaction, for "songs with few interactions" and the popularity prior.

Threads: each thread gets its own connection; writes are serialised by a lock (SQLite allows one
writer) and reads run concurrently under WAL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from songlens.coldstart.events import Event, event_key, interaction_count
from songlens.errors import StoreError

__all__ = ["FeedbackLog", "LoggedEvent"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    song_id TEXT NOT NULL,
    event TEXT NOT NULL,
    ts REAL NOT NULL,
    play_ms INTEGER,
    event_id TEXT,
    received_at REAL NOT NULL,
    request_id TEXT,
    tz_offset_min INTEGER
);
CREATE INDEX IF NOT EXISTS ix_events_user ON events(user_id, seq);
CREATE INDEX IF NOT EXISTS ix_events_song ON events(song_id, seq);
CREATE TABLE IF NOT EXISTS song_counts (
    song_id TEXT NOT NULL,
    event TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (song_id, event)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
_SCHEMA_VERSION = "1"
_PAGE = 2000


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """An event as stored: its sequence number and the event."""

    seq: int
    event: Event


_COLS = "seq, user_id, song_id, event, ts, play_ms, event_id, request_id, tz_offset_min"
#: columns added after the first release (ALTER TABLE on open)
_ADDED = (("request_id", "TEXT"), ("tz_offset_min", "INTEGER"))


def _row_to_logged(row: tuple) -> LoggedEvent:
    seq, user_id, song_id, event, ts, play_ms, event_id, request_id, tz = row
    ev = Event.model_construct(user_id=user_id, song_id=song_id, event=event, ts=ts,
                               play_ms=play_ms, event_id=event_id, request_id=request_id,
                               tz_offset_min=tz)
    return LoggedEvent(seq, ev)


class FeedbackLog:
    """Append-only event log at ``path`` (a SQLite file, created if missing).

    Parameters
    ----------
    path : str or Path
        Database file. ``":memory:"`` is not supported (connections are per thread).
    synchronous : {"FULL", "NORMAL"}
        ``FULL`` (default) fsyncs the WAL at every commit: nothing acknowledged is lost even on
        power loss. ``NORMAL`` is faster and still safe against a process crash.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL",
                 busy_timeout_ms: int = 10_000) -> None:
        if str(path) == ":memory:":
            raise StoreError("FeedbackLog needs a file path, not ':memory:'")
        if synchronous not in ("FULL", "NORMAL"):
            raise StoreError(f"synchronous must be FULL or NORMAL, got {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._sync = synchronous
        self._busy = busy_timeout_ms
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        conn = self._conn()
        with self._write_lock, conn:
            conn.executescript(_SCHEMA)
            have = {r[1] for r in conn.execute("PRAGMA table_info(events)")}
            for col, kind in _ADDED:
                if col not in have:  # a log written before the column existed
                    conn.execute(f"ALTER TABLE events ADD COLUMN {col} {kind}")
            conn.execute("INSERT OR IGNORE INTO meta(k, v) VALUES ('schema_version', ?)",
                         (_SCHEMA_VERSION,))

    # -- connections ---------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"feedback log {str(self.path)!r} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self._busy / 1000,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._sync}")
                conn.execute(f"PRAGMA busy_timeout={int(self._busy)}")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open feedback log {str(self.path)!r}: {exc}") from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (checkpointing the WAL)."""
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.Error:  # pragma: no cover - closing best effort
                    logger.warning("closing a feedback-log connection failed", exc_info=True)
            self._all.clear()
        self._closed = True

    def __enter__(self) -> FeedbackLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------------
    def append(self, events: Iterable[Event]) -> int:
        """Append a batch in one transaction; returns how many were new (duplicates skipped).

        When this returns, the batch is durable (see the module docstring).
        """
        evs = list(events)
        if not evs:
            return 0
        now = time.time()
        conn = self._conn()
        n_new = 0
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for ev in evs:
                        cur = conn.execute(
                            "INSERT OR IGNORE INTO events(event_key, user_id, song_id, event, ts,"
                            " play_ms, event_id, received_at, request_id, tz_offset_min) "
                            "VALUES (?,?,?,?,?,?,?,?,?,?)",
                            (event_key(ev), ev.user_id, ev.song_id, ev.event, float(ev.ts),
                             ev.play_ms, ev.event_id, now, getattr(ev, "request_id", None),
                             getattr(ev, "tz_offset_min", None)))
                        if cur.rowcount == 1:
                            n_new += 1
                            conn.execute(
                                "INSERT INTO song_counts(song_id, event, n) VALUES (?,?,1) "
                                "ON CONFLICT(song_id, event) DO UPDATE SET n = n + 1",
                                (ev.song_id, ev.event))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"feedback log append failed: {exc}") from exc
        logger.debug("appended %d/%d events", n_new, len(evs))
        return n_new

    # -- reads -----------------------------------------------------------------------------------
    def conflicts(self, events: Sequence[Event]) -> list[int]:
        """Indices of events whose client ``event_id`` is already used, in the log or earlier in
        ``events``, by a *different* event (user, song, event type or ts differ). Appending one
        would be dropped as a duplicate; the caller reports it instead. Same event, same id: a
        retry, not a conflict."""
        def ident(ev: Event) -> tuple:
            return (ev.user_id, ev.song_id, ev.event, float(ev.ts))

        with_id = [(i, ev) for i, ev in enumerate(events) if ev.event_id]
        if not with_id:
            return []
        seen: dict[str, tuple] = {}
        conn = self._conn()
        keys = list(dict.fromkeys(event_key(ev) for _, ev in with_id))
        for j in range(0, len(keys), 500):
            chunk = keys[j:j + 500]
            rows = conn.execute(
                f"SELECT event_key, user_id, song_id, event, ts FROM events WHERE event_key IN "
                f"({','.join('?' * len(chunk))})", chunk).fetchall()
            seen.update({k: (u, s, e, float(t)) for k, u, s, e, t in rows})
        out = []
        for i, ev in with_id:
            key = event_key(ev)
            if key in seen and seen[key] != ident(ev):
                out.append(i)
            else:
                seen.setdefault(key, ident(ev))
        return out

    def count(self) -> int:
        """Number of events stored."""
        return int(self._conn().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def last_seq(self) -> int:
        """Highest sequence number (0 when empty)."""
        row = self._conn().execute("SELECT MAX(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def iter_events(self, since_seq: int = 0, *, user_id: str | None = None,
                    song_id: str | None = None, limit: int | None = None
                    ) -> Iterator[LoggedEvent]:
        """Events with ``seq > since_seq`` in sequence order, read page by page."""
        conn = self._conn()
        last, left = int(since_seq), limit
        where, extra = "seq > ?", []
        if user_id is not None:
            where += " AND user_id = ?"
            extra.append(user_id)
        if song_id is not None:
            where += " AND song_id = ?"
            extra.append(song_id)
        while left is None or left > 0:
            page = _PAGE if left is None else min(_PAGE, left)
            rows = conn.execute(
                f"SELECT {_COLS} FROM events "
                f"WHERE {where} ORDER BY seq LIMIT ?", (last, *extra, page)).fetchall()
            if not rows:
                return
            for row in rows:
                yield _row_to_logged(row)
            last = rows[-1][0]
            if left is not None:
                left -= len(rows)
            if len(rows) < page:
                return

    def song_counts(self, song_ids: Sequence[str] | None = None) -> dict[str, dict[str, int]]:
        """Per-song counts per event type (``{song_id: {event: n}}``); unknown songs omitted."""
        conn = self._conn()
        out: dict[str, dict[str, int]] = {}
        if song_ids is None:
            rows = conn.execute("SELECT song_id, event, n FROM song_counts").fetchall()
        else:
            rows = []
            ids = list(dict.fromkeys(song_ids))
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                q = ",".join("?" * len(chunk))
                rows += conn.execute(
                    f"SELECT song_id, event, n FROM song_counts WHERE song_id IN ({q})",
                    chunk).fetchall()
        for sid, ev, n in rows:
            out.setdefault(sid, {})[ev] = int(n)
        return out

    def interaction_counts(self, song_ids: Sequence[str]) -> dict[str, int]:
        """Interactions per song (:func:`~songlens.coldstart.events.interaction_count`; 0 for a
        song never seen), for "songs with few interactions"."""
        counts = self.song_counts(song_ids)
        return {s: interaction_count(counts.get(s, {})) for s in song_ids}

    def user_counts(self, user_id: str) -> dict[str, int]:
        """One user's logged events per event type (``{event: n}``; empty for an unknown user)."""
        rows = self._conn().execute("SELECT event, COUNT(*) FROM events WHERE user_id = ? "
                                    "GROUP BY event", (user_id,)).fetchall()
        return {ev: int(n) for ev, n in rows}
