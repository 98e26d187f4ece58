"""Reading tar archives that may be hostile: only plain files and folders under relative paths
that stay inside the target, a bounded number of members and bytes.

Both the backup archive and the Qdrant shard snapshots inside it go through
:func:`check_members` before anything is extracted."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import PurePosixPath

from songlens.errors import InvalidArchive

__all__ = ["check_members", "safe_name"]


def safe_name(name: str) -> str | None:
    """``name`` normalised (``./a/b`` → ``a/b``) when it is a relative path that stays inside
    the folder it is extracted to; None otherwise (absolute, ``..``, backslashes, NUL, empty)."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def check_members(tar: tarfile.TarFile, *, max_members: int, max_bytes: int,
                  max_file_size: int | None = None,
                  allow: Callable[[str], bool] | None = None, what: str = "archive"
                  ) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, checked: plain files (sparse ones too) and folders only (no
    links, devices or FIFOs), safe names (:func:`safe_name`), accepted by ``allow``, at most
    ``max_members`` of them and ``max_bytes`` of file data (a sparse file's data blocks, not its
    holes), each file at most ``max_file_size`` long (holes included; default ``max_bytes``).

    Raises
    ------
    InvalidArchive
        The first member that breaks a rule, named (quoted, cut short) in the message.
    """
    members: list[tarfile.TarInfo] = []
    total = 0
    for m in tar:
        shown = repr(m.name[:80])
        if len(members) >= max_members:
            raise InvalidArchive(f"{what}: more than {max_members} members")
        name = safe_name(m.name)
        if name is None:
            raise InvalidArchive(f"{what}: member {shown} would be written outside the target")
        if not (m.isreg() or m.isdir()):
            raise InvalidArchive(f"{what}: member {shown} is not a plain file or folder "
                                 "(links, devices and FIFOs are refused)")
        if allow is not None and not allow(name):
            raise InvalidArchive(f"{what}: unexpected member {shown}")
        if m.isreg() and m.size > (max_bytes if max_file_size is None else max_file_size):
            raise InvalidArchive(f"{what}: member {shown} is over the size limit")
        if m.isreg():
            total += sum(n for _, n in m.sparse) if m.sparse is not None else m.size
        if total > max_bytes:
            raise InvalidArchive(f"{what}: more than {max_bytes} bytes of files")
        members.append(m)
    return members
