"""When the embedded store optimizes: enough unindexed points, an idle writer, one at a time."""

from __future__ import annotations

import time

import pytest

from ragplane_retrieve.optimize import OptimizePolicy, OptimizeScheduler

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "unindexed, idle, running, due",
    [
        (20_000, 30.0, False, True),
        (19_999, 300.0, False, False),  # too few points to be worth it
        (50_000, 5.0, False, False),  # the writer is busy
        (50_000, 300.0, True, False),  # one at a time
    ],
)
def test_policy(unindexed, idle, running, due):
    assert OptimizePolicy(threshold=20_000, idle_s=30.0).due(unindexed, idle, running) is due


class FakeStore:
    def __init__(self, unindexed: int) -> None:
        self.unindexed = unindexed
        self.optimized = 0

    def unindexed_points(self) -> int:
        return self.unindexed

    def offline_optimize(self, timeout_s):
        self.optimized += 1
        self.unindexed = 0
        return True

    def cancel_offline_optimize(self):
        pass


async def test_scheduler_optimizes_only_when_due():
    store = FakeStore(25_000)
    last_write = [time.monotonic()]
    scheduler = OptimizeScheduler(store, OptimizePolicy(20_000, 60.0), lambda: last_write[0], 10.0, 100.0)
    assert await scheduler.check() is False and store.optimized == 0
    last_write[0] -= 120
    assert await scheduler.check() is True and store.optimized == 1
    assert await scheduler.check() is False and store.optimized == 1  # nothing left to index
