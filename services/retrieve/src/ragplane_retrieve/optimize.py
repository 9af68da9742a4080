"""When the embedded store builds its HNSW index, and how that stays out of the search path.

qdrant-edge only builds vector indexes when ``optimize()`` is called, and that call holds the GIL for its
whole run (100-170 s at 100k points on 2 cores): in the serving process it would freeze every search, the
health checks and the writer. Until it runs, new points are searched by brute force (17-19 ms at 100k
dense+sparse instead of ~2 ms). So:

- *what* runs: ``EdgeStore.offline_optimize`` optimizes a copy of the chunk shard in a child process (its
  own GIL), while this process keeps searching the live shard and journals the writes it makes; the copy
  is swapped in and the journal replayed, pausing searches only for the swap (a load and the replay).
- *when*: the policy below, checked every ``RAGPLANE_RETRIEVE_OPTIMIZE_CHECK_S`` seconds, starts one when
  the unindexed points reach ``RAGPLANE_RETRIEVE_OPTIMIZE_THRESHOLD`` (20k by default: brute force over
  20k points costs ~3-4 ms, the budget a search can give away) and the writer has been idle for
  ``RAGPLANE_RETRIEVE_OPTIMIZE_IDLE_S`` (the child competes for the same cores as the embed workers and
  the journal grows with every write, so bulk loads finish first). One runs at a time.
- an operator can optimize a stopped store with ``python -m ragplane_retrieve.optimize PATH`` (in
  process, no journal needed), e.g. after a bulk load in a maintenance window.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ragplane.runtime.logs import get_logger
from ragplane_retrieve import metrics

log = get_logger(__name__)


@dataclass(frozen=True)
class OptimizePolicy:
    threshold: int
    idle_s: float

    def due(self, unindexed: int, idle_for_s: float, running: bool) -> bool:
        """Whether an optimize should start now."""
        return not running and unindexed >= self.threshold and idle_for_s >= self.idle_s


class OptimizeScheduler:
    """Runs the policy in the background of the service.

    Args:
        store: an EdgeStore (``unindexed_points``, ``offline_optimize``).
        policy: the thresholds.
        last_write: monotonic time of the writer's last write.
        check_s: seconds between looks.
        timeout_s: an offline optimize running longer is abandoned.
    """

    def __init__(
        self, store, policy: OptimizePolicy, last_write: Callable[[], float], check_s: float, timeout_s: float
    ) -> None:
        self.store = store
        self.policy = policy
        self.last_write = last_write
        self.check_s = check_s
        self.timeout_s = timeout_s
        self.running = False
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self.store.cancel_offline_optimize()
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def check(self) -> bool:
        """Look once; run an offline optimize if it is due. Returns whether one ran and swapped in."""
        unindexed = await asyncio.to_thread(self.store.unindexed_points)
        metrics.UNINDEXED.set(unindexed)
        idle = time.monotonic() - self.last_write()
        if not self.policy.due(unindexed, idle, self.running):
            return False
        self.running = True
        started = time.monotonic()
        log.info("offline optimize starting", unindexed=unindexed, idle_s=round(idle, 1))
        try:
            ok = await asyncio.to_thread(self.store.offline_optimize, self.timeout_s)
        finally:
            self.running = False
        self.runs += 1
        metrics.OPTIMIZE_SECONDS.labels("swapped" if ok else "failed").observe(time.monotonic() - started)
        return ok

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.check()
            except Exception as exc:  # noqa: BLE001 - the next look tries again
                log.warning("optimize check failed", error=str(exc))


def main(argv: list[str] | None = None) -> int:
    """Optimize a stopped edge store in this process (an operator's trigger)."""
    from ragplane_retrieve.store.edge import EdgeStore

    parser = argparse.ArgumentParser(prog="python -m ragplane_retrieve.optimize", description=main.__doc__)
    parser.add_argument("path", help="the store directory (RAGPLANE_RETRIEVE_EDGE_PATH); the service must be stopped")
    args = parser.parse_args(argv)
    store = EdgeStore(args.path)
    store.open()
    started = time.monotonic()
    try:
        before = store.unindexed_points()
        changed = store.optimize()
        print(
            f"optimized={changed} unindexed_before={before} unindexed_after={store.unindexed_points()} "
            f"seconds={time.monotonic() - started:.1f}"
        )
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
