"""Per-tenant ingest quotas: open calls and uploaded bytes per minute, so one tenant cannot stall another.

Both are answered with RESOURCE_EXHAUSTED carrying ``retry-after`` (the runtime's interceptor sends it). The
state lives in the serving event loop (no locks): calls and bytes are counted as the servicer sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ragplane.runtime.errors import ResourceExhausted

# A busy tenant's call slot frees when one of its uploads finishes; a second is a fair guess at when.
CALL_RETRY_AFTER_S = 1.0


class TenantQuotas:
    """Open ingest calls per tenant, and a token bucket of bytes per tenant refilled every minute."""

    def __init__(self, max_calls: int, bytes_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_calls = max_calls
        self._bytes_per_minute = bytes_per_minute
        self._clock = clock
        self._calls: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (bytes left, when counted)

    @contextmanager
    def call(self, tenant: str) -> Iterator[None]:
        """Hold one of the tenant's call slots for the block.

        Raises:
            ResourceExhausted: the tenant already has ``max_calls`` calls open (retry after a second).
        """
        open_calls = self._calls.get(tenant, 0)
        if open_calls >= self._max_calls:
            raise ResourceExhausted(
                f"tenant {tenant!r} already has {open_calls} ingest calls open, the limit "
                "(RAGPLANE_INGEST_TENANT_MAX_CONCURRENT_CALLS); retry when one finishes",
                retry_after_s=CALL_RETRY_AFTER_S,
            )
        self._calls[tenant] = open_calls + 1
        try:
            yield
        finally:
            remaining = self._calls[tenant] - 1
            if remaining:
                self._calls[tenant] = remaining
            else:
                del self._calls[tenant]

    def charge(self, tenant: str, size: int) -> None:
        """Count ``size`` uploaded bytes against the tenant's quota.

        Raises:
            ResourceExhausted: over the quota; ``retry_after_s`` is when enough bytes have been refilled.
        """
        now = self._clock()
        rate = self._bytes_per_minute / 60.0
        left, counted_at = self._buckets.get(tenant, (float(self._bytes_per_minute), now))
        left = min(float(self._bytes_per_minute), left + (now - counted_at) * rate)
        if size > left:
            self._buckets[tenant] = (left, now)
            retry_after = (size - left) / rate
            raise ResourceExhausted(
                f"tenant {tenant!r} is over its ingest quota of {self._bytes_per_minute} bytes per minute "
                f"(RAGPLANE_INGEST_TENANT_BYTES_PER_MINUTE); retry in {retry_after:.1f} s",
                retry_after_s=retry_after,
            )
        self._buckets[tenant] = (left - size, now)
