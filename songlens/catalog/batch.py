"""Batch ingestion of local files for the CLI: folders walked recursively, several workers,
a manifest so re-runs skip unchanged files, one bad file never stops the batch."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from songlens.catalog.pipeline import Catalog
from songlens.content.metadata import SongMetadata, parse_metadata, read_file_metadata
from songlens.errors import SonglensError

__all__ = ["AUDIO_SUFFIXES", "BatchReport", "Manifest", "failure_reason", "find_audio_files",
           "ingest_files", "read_song_file", "run_batch"]

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = {".mp3", ".ogg", ".oga", ".opus", ".flac", ".wav", ".m4a", ".aac", ".mp4",
                  ".aiff", ".aif", ".wma"}


def find_audio_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file()
                          and f.suffix.lower() in AUDIO_SUFFIXES)
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {str(p)!r}")
    return out


@dataclass
class BatchReport:
    ingested: list[tuple[str, str]] = field(default_factory=list)   # (path, song_id)
    skipped: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)       # on_existing="keep"
    failed: list[tuple[str, str]] = field(default_factory=list)     # (path, reason)

    def add(self, p: Path, status: str, detail: str | None) -> None:
        """One file's outcome: ingested, kept, skipped (``detail``: its song id) or failed
        (``detail``: the reason)."""
        if status == "ingested":
            self.ingested.append((str(p), detail or ""))
        elif status == "kept":
            self.kept.append((str(p), detail or ""))
        elif status == "skipped":
            self.skipped.append(str(p))
        else:
            self.failed.append((str(p), detail or ""))


class Manifest:
    """path → (size, mtime_ns, song_id), kept as JSON beside the store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        try:
            self.data: dict[str, list] = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            self.data = {}

    @staticmethod
    def stamp(p: Path) -> list:
        st = p.stat()
        return [st.st_size, st.st_mtime_ns]

    def unchanged(self, p: Path) -> str | None:
        rec = self.data.get(str(p.resolve()))
        return rec[2] if rec and rec[:2] == self.stamp(p) else None

    def record(self, p: Path, song_id: str, *, save: bool = True) -> None:
        """Note ``p`` as stored under ``song_id``; ``save=False`` leaves the file to a later
        :meth:`save` (a batch of songs: the whole manifest is rewritten each time)."""
        with self.lock:
            self.data[str(p.resolve())] = [*self.stamp(p), song_id]
            if save:
                self._save()

    def save(self) -> None:
        with self.lock:
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.path)


def read_song_file(p: Path, on_existing: str) -> tuple[bytes, SongMetadata]:
    """A file's bytes and its metadata (tags, sidecar lyrics), as batch ingestion reads them."""
    meta = parse_metadata(read_file_metadata(p) | {"on_existing": on_existing})
    return p.read_bytes(), meta


def failure_reason(exc: BaseException) -> str:
    """How a batch reports one file's failure: our errors by code and message."""
    if isinstance(exc, SonglensError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def ingest_files(catalog: Catalog, files: list[Path], *, workers: int = 1, force: bool = False,
                 on_done: Callable[[Path, str, str | None], None] | None = None,
                 on_existing: str = "update") -> BatchReport:
    """Ingest ``files``; ``on_done(path, status, detail)`` is called after each (for progress).
    ``on_existing``: what to do with a song already stored (``update`` or ``keep``, see
    :class:`~songlens.content.metadata.SongMetadata`)."""
    catalog.settings.data_path.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(catalog.settings.data_path / "ingest_manifest.json")

    def one(p: Path) -> tuple[str, str | None]:
        known = None if force else manifest.unchanged(p)
        if known and catalog.store.get(catalog.spec, [known]):
            return "skipped", known
        data, meta = read_song_file(p, on_existing)
        result = catalog.ingest(data, meta, filename=p.name, source_path=str(p.resolve()))
        song_id = result.record.song_id
        manifest.record(p, song_id)
        return ("kept" if result.kept else "ingested"), song_id

    return run_batch(files, one, workers=workers, on_done=on_done)


def run_batch(files: list[Path], one: Callable[[Path], tuple[str, str | None]], *,
              workers: int = 1,
              on_done: Callable[[Path, str, str | None], None] | None = None) -> BatchReport:
    """``one(path)`` for every file on ``workers`` threads: it returns ("ingested", song_id),
    ("kept", song_id) or ("skipped", song_id); what it raises is that file's failure, never the
    batch's."""
    report = BatchReport()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, p): p for p in files}
        for fut in as_completed(futures):
            p = futures[fut]
            try:
                status, detail = fut.result()
            except SonglensError as exc:
                status, detail = "failed", failure_reason(exc)
            except Exception as exc:  # noqa: BLE001 - never abort the batch for one file
                log.exception("ingesting %s", p)
                status, detail = "failed", failure_reason(exc)
            report.add(p, status, detail)
            if on_done:
                on_done(p, status, detail)
    return report
