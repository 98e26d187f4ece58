"""The ranker's snapshot registry: every model trained, its held-out figures, which one serves.

``<folder>/registry.json`` (written atomically) lists one entry per candidate the training
cadence produced — batch fits, timed increments, online snapshots — with the held-out check it
met (:class:`~songlens.ranking.cadence.HeldOut`) and whether the quality gate let it serve. The
files of refused candidates are not kept; of the accepted ones the newest ``keep`` are, plus the
one serving, so an operator can roll back (:meth:`SnapshotRegistry.serve`) to any listed entry
whose file is still there.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from songlens.errors import InvalidInput, ModelError, NotFound
from songlens.files import write_atomic
from songlens.ranking.ranker import Ranker

__all__ = ["SnapshotEntry", "SnapshotRegistry", "REGISTRY_FORMAT"]

log = logging.getLogger(__name__)

REGISTRY_FORMAT = 1


@dataclass
class SnapshotEntry:
    """One trained model: ``id``, ``kind`` (``batch``, ``increment``, ``online``, ``rebuild``),
    ranker ``version`` and samples seen, when it was made, the held-out check
    (``heldout``: ``auc``, ``serving_auc``, ``n``, ``since``…), whether it was ``accepted``,
    why (``reason``), and whether its ``file`` is still kept."""

    id: str
    kind: str
    version: int
    samples_seen: int
    created_at: float
    accepted: bool
    reason: str
    file: str | None
    heldout: dict[str, Any] = field(default_factory=dict)
    trained: dict[str, Any] = field(default_factory=dict)


class SnapshotRegistry:
    """Snapshots under ``folder`` and the registry that lists them."""

    def __init__(self, folder: str | Path, *, keep: int = 3) -> None:
        self.folder = Path(folder)
        self.keep = max(int(keep), 1)
        self.entries: list[SnapshotEntry] = []
        self.serving: str | None = None
        self._next = 1
        path = self.folder / "registry.json"
        if path.exists():
            try:
                data = json.loads(path.read_text("utf-8"))
                if data.get("format") != REGISTRY_FORMAT:
                    raise ModelError(f"snapshot registry has format {data.get('format')!r}; "
                                     f"this build reads {REGISTRY_FORMAT}")
                self.entries = [SnapshotEntry(**e) for e in data["entries"]]
                self.serving = data.get("serving")
                self._next = int(data.get("next", len(self.entries) + 1))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ModelError(f"cannot read the ranker's snapshot registry: {exc}") from exc

    def _write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"format": REGISTRY_FORMAT, "serving": self.serving, "next": self._next,
                "entries": [asdict(e) for e in self.entries]}
        write_atomic(self.folder / "registry.json",
                     json.dumps(data, ensure_ascii=False).encode("utf-8"))

    def get(self, snapshot_id: str) -> SnapshotEntry:
        for e in self.entries:
            if e.id == snapshot_id:
                return e
        raise NotFound(f"no ranker snapshot {snapshot_id!r}; listed: "
                       f"{[e.id for e in self.entries[-10:]]}")

    def add(self, ranker: Ranker | None, *, kind: str, accepted: bool, reason: str = "",
            heldout: dict[str, Any] | None = None, trained: dict[str, Any] | None = None,
            serve: bool | None = None) -> SnapshotEntry:
        """Record a candidate; an accepted one is saved and (unless ``serve=False``) serves."""
        sid = f"{self._next:06d}"
        self._next += 1
        file = None
        if accepted and ranker is not None:
            file = ranker.save(self.folder / f"ranker-{sid}.npz").name
        e = SnapshotEntry(id=sid, kind=kind, version=ranker.version if ranker else 0,
                          samples_seen=ranker.n_seen if ranker else 0, created_at=time.time(),
                          accepted=accepted, reason=reason, file=file,
                          heldout=dict(heldout or {}), trained=dict(trained or {}))
        self.entries.append(e)
        if accepted and (serve is None or serve):
            self.serving = sid
        self._prune()
        self._write()
        log.info("ranker snapshot %s (%s): %s%s", sid, kind,
                 "accepted" if accepted else "refused", f" ({reason})" if reason else "")
        return e

    def serve(self, snapshot_id: str) -> Ranker:
        """Make ``snapshot_id`` the serving one (a rollback); returns its model."""
        e = self.get(snapshot_id)
        if not e.accepted or e.file is None:
            raise InvalidInput(f"ranker snapshot {snapshot_id!r} cannot serve: "
                               + ("the quality gate refused it" if not e.accepted
                                  else "its file was pruned"))
        ranker = Ranker.load(self.folder / e.file)
        self.serving = snapshot_id
        self._write()
        log.warning("ranker: snapshot %s serves now (rollback)", snapshot_id)
        return ranker

    def path(self, snapshot_id: str) -> Path | None:
        e = self.get(snapshot_id)
        return self.folder / e.file if e.file else None

    def _prune(self) -> None:
        kept = [e for e in self.entries if e.file]
        for e in kept[:-self.keep]:
            if e.id != self.serving:
                (self.folder / e.file).unlink(missing_ok=True)  # type: ignore[operator]
                e.file = None
        if len(self.entries) > 200:  # the listing stays short; files are already gone
            self.entries = [e for e in self.entries[-200:]]
