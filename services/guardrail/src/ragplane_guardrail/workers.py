"""The bounded thread pool the checks run in, so CPU-bound detectors never block the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class CheckPool:
    """Runs blocking calls on a fixed number of worker threads (created on first use, not here).

    Args:
        workers: how many calls run at once.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` in the pool, keeping the request context (tenant, request id) for its logs."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="guardrail")
        call = functools.partial(contextvars.copy_context().run, function, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def shutdown(self) -> None:
        """Let running calls finish and drop queued ones; a later ``run`` starts a new pool (a restarted app)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
