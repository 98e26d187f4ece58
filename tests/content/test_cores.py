"""The core budget: how many threads a CPU-heavy step gets from what is free and what this
process already holds."""

from __future__ import annotations

from songlens.content.cores import CoreBudget, available_cores, cores_to_use


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
