"""How many cores a CPU-heavy step may use now: the cores this process may run on, less what
other processes keep busy, less what this process's other heavy steps hold.

Measured, not guessed: the machine's busy time (``/proc/stat``) minus this process's own CPU time
over the last interval gives the cores other processes used; a step asks :data:`CORES` for a
lease (``with CORES.lease(cap) as n``) and runs ``n`` threads. Two steps at once in one process
(two requests, ``ingest --workers 2``) share the free cores instead of each taking them all.
Where ``/proc/stat`` is missing the 1-minute load average stands in for other processes' load.
Time the kernel books as *nice* (processes at a lower priority, such as the index build this
service starts at ``qdrant.index_build_nice``) does not count as busy while this process runs at
normal priority: the scheduler gives such work a small share of a core that a step wants.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["CORES", "CoreBudget", "available_cores", "busy_seconds", "cores_to_use"]

#: A sample older than this is replaced before it is used (seconds).
MAX_SAMPLE_AGE_S = 5.0
#: A fresh measurement spans at least this long.
MIN_INTERVAL_S = 0.05


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _affinity() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None


def busy_seconds(stat: str, *, cpus: set[int] | None, count_nice: bool, hz: float) -> float:
    """Busy seconds since boot of the cores ``cpus`` (None: all) in ``/proc/stat`` text ``stat``:
    every tick but idle and iowait, and but nice unless ``count_nice``."""
    busy = 0
    for line in stat.splitlines():
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        if not fields[0][3:].isdigit():
            break
        if cpus is not None and int(fields[0][3:]) not in cpus:
            continue
        ticks = [int(v) for v in fields[1:9]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        nice = 0 if count_nice else ticks[1]
        busy += sum(ticks) - idle - nice  # guest time is already inside user/nice
    return busy / hz


def _machine_busy_s() -> float | None:
    """Seconds of CPU the cores this process may run on have spent busy since boot (None: no
    /proc/stat). Only those cores: on a bigger host, load elsewhere leaves ours free. Niced work
    counts only when this process is niced itself (then it competes with us as an equal)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            stat = f.read()
        return busy_seconds(stat, cpus=_affinity(), count_nice=os.nice(0) > 0,
                            hz=os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None


def cores_to_use(*, available: int, others_busy: float, held: int, cap: int | None) -> int:
    """Cores a new step gets: the available ones less the cores other processes used (rounded
    to the nearest core) and those this process's running steps hold; at least 1, at most
    ``cap``."""
    free = available - math.floor(max(0.0, others_busy) + 0.5) - held
    n = max(1, min(free, available))
    return min(n, cap) if cap else n


class CoreBudget:
    """Process-wide lease of cores for CPU-heavy steps (see the module notes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = 0
        self._sample: tuple[float, float, float] | None = None  # wall, machine busy, own cpu
        self._others = 0.0

    def others_busy(self) -> float:
        """Cores other processes kept busy over the last measured interval (>= 0)."""
        now = time.monotonic()
        busy = _machine_busy_s()
        if busy is None:
            try:
                load = os.getloadavg()[0]
            except OSError:  # pragma: no cover
                return 0.0
            return max(0.0, load - self._held)
        own = time.process_time()
        prev = self._sample
        if prev is None or now - prev[0] > MAX_SAMPLE_AGE_S:
            time.sleep(MIN_INTERVAL_S)  # a first or stale sample: measure a short interval now
            prev = (now, busy, own)
            now, busy, own = time.monotonic(), _machine_busy_s() or busy, time.process_time()
        dt = now - prev[0]
        if dt >= MIN_INTERVAL_S:
            others = ((busy - prev[1]) - (own - prev[2])) / dt
            self._others = max(0.0, others)
            self._sample = (now, busy, own)
        return self._others

    @contextmanager
    def lease(self, cap: int | None = None) -> Iterator[int]:
        """Hold ``n`` cores for a step; yields ``n`` (>= 1, <= ``cap``)."""
        with self._lock:
            n = cores_to_use(available=available_cores(), others_busy=self.others_busy(),
                             held=self._held, cap=cap)
            self._held += n
        try:
            yield n
        finally:
            with self._lock:
                self._held -= n


#: The process's one budget.
CORES = CoreBudget()
