"""Qdrant Edge shard snapshots as tar files: written by GNU tar from a flushed shard folder
(qdrant-edge-py 0.9.0 can unpack a shard snapshot but has no call that writes one), and restored
from a file that is treated as hostile until checked."""

from __future__ import annotations

import logging
import os
import subprocess
import tarfile
from pathlib import Path

import qdrant_edge as qe

from songlens.errors import InvalidArchive, StoreError
from songlens.store.safe_tar import check_members

__all__ = ["restore_snapshot", "write_shard_tar"]

log = logging.getLogger(__name__)


def write_shard_tar(where: Path, dest: Path, *, name: str) -> None:
    """The flushed shard folder ``where`` as the tar file ``dest`` (the caller keeps the shard
    from changing meanwhile).

    GNU tar writes it, with ``--sparse``: the engine preallocates its WAL segments and vector
    chunks as sparse files (hundreds of MB that are mostly holes even for one song), which
    Python's tarfile would write out in full; the engine's unpacker reads GNU sparse members and
    restores the holes. Raises :class:`StoreError` when tar fails (``OSError`` when it cannot
    run)."""
    done = subprocess.run(
        ["tar", "--create", "--sparse", "--format=gnu", "--owner=0", "--group=0",
         "--numeric-owner", "--file", str(dest), "--directory", str(where), "--",
         *sorted(os.listdir(where))], capture_output=True, timeout=None)
    if done.returncode != 0:
        log.error("tar of %s failed: %s", where, done.stderr.decode(errors="replace"))
        raise StoreError(f"qdrant edge: snapshot of {name!r} failed (tar exit "
                         f"{done.returncode}; the log says why)")


def restore_snapshot(snapshot: Path, where: Path, *, max_members: int = 100_000,
                     max_bytes: int, max_file_size: int = 1 << 40) -> int:
    """Unpack a shard snapshot (:meth:`EdgeStore.snapshot`) into the new folder ``where``,
    open it to check it and return its number of points. The snapshot is checked first as a
    hostile archive (:func:`~songlens.store.safe_tar.check_members`).

    Raises
    ------
    InvalidArchive
        The snapshot is not a tar of plain files inside the shard, or is over the bounds.
    StoreError
        The engine cannot unpack or open it.
    """
    try:
        with tarfile.open(snapshot, "r:") as tar:
            check_members(tar, max_members=max_members, max_bytes=max_bytes,
                          max_file_size=max_file_size, what=f"shard snapshot {snapshot.name}")
    except tarfile.TarError as exc:
        raise InvalidArchive(f"shard snapshot {snapshot.name} is not a tar file: {exc}") from exc
    try:
        qe.EdgeShard.unpack_snapshot(str(snapshot), str(where))
        shard = qe.EdgeShard.load(str(where))
        try:
            return int(shard.count(qe.CountRequest(exact=True)))
        finally:
            shard.close()
    except Exception as exc:  # noqa: BLE001 - every engine error becomes ours
        raise StoreError(f"qdrant edge: shard snapshot {snapshot.name} does not restore: "
                         f"{type(exc).__name__}") from exc
