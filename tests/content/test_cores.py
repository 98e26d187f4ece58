"""The core budget: how many threads a CPU-heavy step gets from what is free and what this
process already holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from songlens.content.cores import CoreBudget, available_cores, busy_seconds, cores_to_use


def test_free_cores_less_other_processes_and_our_own_leases():
    assert cores_to_use(available=2, others_busy=0.1, held=0, cap=None) == 2
    assert cores_to_use(available=2, others_busy=0.9, held=0, cap=None) == 1  # one core busy
    assert cores_to_use(available=2, others_busy=5.0, held=0, cap=None) == 1  # never below 1
    assert cores_to_use(available=8, others_busy=2.4, held=3, cap=None) == 3
    assert cores_to_use(available=8, others_busy=0.0, held=0, cap=4) == 4  # audio.threads caps
    assert cores_to_use(available=2, others_busy=0.0, held=2, cap=None) == 1


def test_concurrent_leases_share_the_cores():
    budget = CoreBudget()
    budget.others_busy = lambda: 0.0  # type: ignore[method-assign] # an idle machine
    n = available_cores()
    with budget.lease() as first:
        assert first == n
        with budget.lease() as second:
            assert second == 1  # nothing left: the second step runs on one thread
    with budget.lease(cap=1) as again:
        assert again == 1


def test_other_processes_load_is_measured_and_non_negative():
    budget = CoreBudget()
    assert budget.others_busy() >= 0.0
    sum(i * i for i in range(200_000))  # our own work is subtracted, never negative
    assert budget.others_busy() >= 0.0


STAT = """cpu  900 500 100 5000 50 0 0 0 0 0
cpu0 400 300 50 2500 20 0 0 0 0 0
cpu1 500 200 50 2500 30 0 0 0 0 0
intr 12345
"""


def test_busy_time_leaves_out_idle_iowait_and_niced_work_unless_asked():
    assert busy_seconds(STAT, cpus=None, count_nice=True, hz=100) == (750 + 750) / 100
    assert busy_seconds(STAT, cpus=None, count_nice=False, hz=100) == (450 + 550) / 100
    assert busy_seconds(STAT, cpus={1}, count_nice=False, hz=100) == 5.5


@pytest.mark.parametrize("nice", [19, 0])
def test_a_niced_process_burning_a_core_leaves_it_free(nice):
    if os.nice(0) > 0:  # the rule applies to a process at normal priority
        pytest.skip("the test process is niced itself")
    burn = subprocess.Popen([sys.executable, "-c", f"import os, time\nos.nice({nice})\n"
                             "t = time.time()\nwhile time.time() - t < 4: pass"])
    try:
        time.sleep(0.3)  # the child is running
        budget = CoreBudget()
        budget.others_busy()
        time.sleep(0.6)
        busy = budget.others_busy()
        assert busy < 0.5 if nice else busy > 0.5  # a core burnt at normal priority counts
    finally:
        burn.kill()
        burn.wait()
