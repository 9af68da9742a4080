"""Per-tenant concurrency limits of the eval RPCs.

Every RunDataset ingests a corpus and asks the whole stack every question, and every EvaluateAnswer runs the
judge: one tenant looping on either would take the judge and the stack from everyone else. A tenant may have
a bounded number of each in flight in this process; one more is refused at once with RESOURCE_EXHAUSTED and a
``retry-after`` hint rather than queued (a queue would hold the caller's deadline and memory just the same).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ragplane.runtime.errors import ResourceExhausted


class TenantConcurrency:
    """At most ``limit`` calls of one RPC in flight per tenant.

    Args:
        rpc: the RPC's name, for the error message.
        limit: calls in flight per tenant.
        retry_after_s: the hint sent with a refusal (about how long one call takes).
    """

    def __init__(self, rpc: str, limit: int, retry_after_s: float) -> None:
        self.rpc = rpc
        self.limit = limit
        self.retry_after_s = retry_after_s
        self._in_flight: dict[str, int] = {}

    def in_flight(self, tenant: str) -> int:
        """How many calls ``tenant`` has in flight."""
        return self._in_flight.get(tenant, 0)

    @contextlib.contextmanager
    def hold(self, tenant: str) -> Iterator[None]:
        """Count one call of ``tenant`` for the duration of the block.

        Raises:
            ResourceExhausted: the tenant already has ``limit`` calls in flight.
        """
        # Callers run on the event loop thread, so checking and counting cannot interleave.
        held = self.in_flight(tenant)
        if held >= self.limit:
            raise ResourceExhausted(
                f"{self.rpc}: tenant {tenant!r} already has {held} in flight, at most {self.limit}; "
                f"retry in {self.retry_after_s:g} s",
                retry_after_s=self.retry_after_s,
            )
        self._in_flight[tenant] = held + 1
        try:
            yield
        finally:
            remaining = self._in_flight[tenant] - 1
            if remaining:
                self._in_flight[tenant] = remaining
            else:
                del self._in_flight[tenant]
