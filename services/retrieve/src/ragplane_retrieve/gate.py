"""Read priority between the Search RPC and the index writer in one process.

The embedded engine holds the GIL for a whole call, and a search needs the GIL several times (request
handling on the event loop, the engine call in a worker thread, the response): a writer that keeps
upserting takes most of those turns, and searches wait a write call each time. So the writer asks the gate
before each write call and waits, for at most ``max_wait_s``, while searches are in flight; searches never
wait for the gate. The cap keeps a steady stream of searches from starving the writer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class ReadPriorityGate:
    """Counts searches in flight; writers wait (bounded) until there are none.

    Args:
        max_wait_s: the longest a writer waits before writing anyway.
        poll_s: how often a waiting writer looks again.
    """

    def __init__(self, max_wait_s: float = 0.05, poll_s: float = 0.0005) -> None:
        self.max_wait_s = max_wait_s
        self.poll_s = poll_s
        self._readers = 0
        self._lock = threading.Lock()
        self.waited_s = 0.0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._lock:
            self._readers += 1
        try:
            yield
        finally:
            with self._lock:
                self._readers -= 1

    @property
    def readers(self) -> int:
        return self._readers

    def before_write(self) -> float:
        """Wait while searches are in flight (at most ``max_wait_s``); return the seconds waited."""
        if not self._readers:
            return 0.0
        started = time.monotonic()
        deadline = started + self.max_wait_s
        while self._readers and time.monotonic() < deadline:
            time.sleep(self.poll_s)
        waited = time.monotonic() - started
        self.waited_s += waited
        return waited
