"""The running service keeps its search index current: a background thread that rebuilds a
collection's index once enough points were written since the last build.

The embedded store builds out of process and swaps the result in
(:meth:`songlens.store.edge.EdgeStore.rebuild_index`), so requests keep being answered during the
build; a Qdrant server indexes by itself and gets no thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from songlens.errors import StoreError
from songlens.store import CollectionSpec, VectorStore

__all__ = ["IndexUpkeep"]

log = logging.getLogger(__name__)


class IndexUpkeep:
    """Checks ``specs`` every ``every_s`` seconds; a collection with ``min_points`` or more
    points written since its last build gets a new index. :meth:`stop` cancels a build in
    progress (its child process is stopped; the live collection is untouched)."""

    def __init__(self, store: VectorStore, specs: Sequence[CollectionSpec], *, min_points: int,
                 every_s: float, nice: int = 10) -> None:
        self.store, self.min_points, self.every_s, self.nice = store, min_points, every_s, nice
        self.specs = [s for s in specs if store.index_state(s) is not None]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None

    def start(self) -> IndexUpkeep:
        if self.specs and self.min_points > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="index-upkeep", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def states(self) -> dict[str, dict]:
        """Each watched collection's index state (edge_index.IndexState as a dict)."""
        out = {}
        for spec in self.specs:
            st = self.store.index_state(spec)
            if st is not None:
                out[spec.name] = st.to_dict()
        return out

    def check(self, spec: CollectionSpec) -> bool:
        """Rebuild ``spec``'s index if it is due; True when a new one was swapped in."""
        st = self.store.index_state(spec)
        if st is None or st.building or st.unindexed < max(1, self.min_points):
            return False
        log.info("index of %s: %d points written since the last build, rebuilding", spec.name,
                 st.unindexed)
        try:
            return self.store.rebuild_index(spec, cancel=self._stop, nice=self.nice)
        except InterruptedError:
            return False
        except StoreError as exc:
            log.warning("index of %s not rebuilt: %s", spec.name, exc)
            return False

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            for spec in self.specs:
                if self._stop.is_set():
                    return
                try:
                    self.check(spec)
                except Exception:  # noqa: BLE001 - the thread must outlive one bad build
                    log.exception("index upkeep of %s", spec.name)
