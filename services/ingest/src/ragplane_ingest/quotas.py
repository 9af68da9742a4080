"""Per-tenant ingest quotas: open calls and uploaded bytes per minute, so one tenant cannot stall another.

Both are answered with RESOURCE_EXHAUSTED carrying ``retry-after`` (the runtime's interceptor sends it).

Two implementations of one interface (``call`` and ``charge``):
- ``RedisTenantQuotas`` (the service): cluster-wide, in the state Redis, so a tenant's limits hold across all
  ingest replicas. An open call is a lease in a sorted set, scored by its expiry: it is renewed while the call
  runs, removed when it ends, and expires on its own when a replica dies holding it. Bytes are a token bucket
  in a hash. Each check is one Lua script, atomic on the Redis server, timed by the Redis server's clock.
- ``TenantQuotas``: per process, for a pipeline built without Redis (tools, tests); with several replicas each
  would allow the full limit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ragplane.runtime.errors import ResourceExhausted, Unavailable
from ragplane.runtime.logs import get_logger
from ragplane.runtime.tls import redis_tls_options

log = get_logger(__name__)

# A busy tenant's call slot frees when one of its uploads finishes; a second is a fair guess at when.
CALL_RETRY_AFTER_S = 1.0
# How long a call's lease outlives the last renewal: a replica that dies frees its tenants' slots this late.
LEASE_S = 30.0


class Quotas(Protocol):
    """What the servicer needs of a quota implementation."""

    def call(self, tenant: str) -> AbstractAsyncContextManager[None]:
        """Hold one of the tenant's call slots for the block; raises ResourceExhausted when none is free."""

    async def charge(self, tenant: str, size: int) -> None:
        """Count ``size`` uploaded bytes; raises ResourceExhausted over the quota."""


def _too_many_calls(tenant: str, open_calls: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"tenant {tenant!r} already has {open_calls} ingest calls open, the limit "
        "(RAGPLANE_INGEST_TENANT_MAX_CONCURRENT_CALLS); retry when one finishes",
        retry_after_s=CALL_RETRY_AFTER_S,
    )


def _over_bytes(tenant: str, bytes_per_minute: int, retry_after: float) -> ResourceExhausted:
    return ResourceExhausted(
        f"tenant {tenant!r} is over its ingest quota of {bytes_per_minute} bytes per minute "
        f"(RAGPLANE_INGEST_TENANT_BYTES_PER_MINUTE); retry in {retry_after:.1f} s",
        retry_after_s=retry_after,
    )


class TenantQuotas:
    """Open ingest calls per tenant, and a token bucket of bytes per tenant refilled every minute, in this process.

    The state lives in the serving event loop (no locks).
    """

    scope = "process"

    def __init__(self, max_calls: int, bytes_per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_calls = max_calls
        self._bytes_per_minute = bytes_per_minute
        self._clock = clock
        self._calls: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (bytes left, when counted)

    @asynccontextmanager
    async def call(self, tenant: str) -> AsyncIterator[None]:
        """Hold one of the tenant's call slots for the block.

        Raises:
            ResourceExhausted: the tenant already has ``max_calls`` calls open (retry after a second).
        """
        open_calls = self._calls.get(tenant, 0)
        if open_calls >= self._max_calls:
            raise _too_many_calls(tenant, open_calls)
        self._calls[tenant] = open_calls + 1
        try:
            yield
        finally:
            remaining = self._calls[tenant] - 1
            if remaining:
                self._calls[tenant] = remaining
            else:
                del self._calls[tenant]

    async def charge(self, tenant: str, size: int) -> None:
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
            raise _over_bytes(tenant, self._bytes_per_minute, (size - left) / rate)
        self._buckets[tenant] = (left - size, now)

    async def close(self) -> None:
        """Nothing to release."""


# KEYS[1]: the tenant's leases (member: lease id, score: expiry in ms). ARGV: lease id, max calls, lease ms.
# Returns {1, open calls} when the lease was taken, {0, open calls} when the tenant is at its limit.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local open = redis.call('ZCARD', KEYS[1])
if open >= tonumber(ARGV[2]) then return {0, open} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, open + 1}
"""
# Extends a lease that is still held; an expired one is not revived (its slot may be someone else's now).
_RENEW = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""
# KEYS[1]: the tenant's bucket (left, at). ARGV: bytes per minute, size. Returns "ok" or the seconds to wait.
_CHARGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = capacity / 60.0
local left = tonumber(redis.call('HGET', KEYS[1], 'left') or ARGV[1])
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or now)
left = math.min(capacity, left + math.max(0, now - at) * rate)
local size = tonumber(ARGV[2])
local result = 'ok'
if size > left then
  result = string.format('%.3f', (size - left) / rate)
else
  left = left - size
end
redis.call('HSET', KEYS[1], 'left', string.format('%.3f', left), 'at', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], 120)
return result
"""


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise Unavailable(f"tenant quotas (Redis) unavailable: {exc}") from exc


class RedisTenantQuotas:
    """The same quotas shared by every ingest replica through Redis (see the module docstring).

    Args:
        client: a Redis client with ``decode_responses=True``.
        prefix: prefix of the quota keys.
        max_calls: calls one tenant may have open at once, across replicas.
        bytes_per_minute: bytes one tenant may upload per minute, across replicas.
        lease_s: how long a call's slot outlives a replica that stopped renewing it.
    """

    scope = "cluster"

    def __init__(
        self, client: aioredis.Redis, prefix: str, max_calls: int, bytes_per_minute: int, lease_s: float = LEASE_S
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._max_calls = max_calls
        self._bytes_per_minute = bytes_per_minute
        self._lease_ms = max(1, int(lease_s * 1000))
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._charge = client.register_script(_CHARGE)

    @classmethod
    def from_url(
        cls, url: str, prefix: str, max_calls: int, bytes_per_minute: int, *, ca_file: str = "", timeout_s: float = 5.0
    ) -> RedisTenantQuotas:
        """Quotas on the Redis at ``url`` (``rediss://`` verifies the server against ``ca_file``)."""
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            **redis_tls_options(url, ca_file),
        )
        return cls(client, prefix, max_calls, bytes_per_minute)

    def _calls_key(self, tenant: str) -> str:
        return f"{self._prefix}:{{{tenant}}}:quota:calls"

    def _bytes_key(self, tenant: str) -> str:
        return f"{self._prefix}:{{{tenant}}}:quota:bytes"

    @asynccontextmanager
    async def call(self, tenant: str) -> AsyncIterator[None]:
        """Hold one of the tenant's call slots, cluster-wide, for the block (renewed while it runs).

        Raises:
            ResourceExhausted: the tenant already has ``max_calls`` calls open on any replica.
            Unavailable: Redis cannot be reached.
        """
        key = self._calls_key(tenant)
        lease = uuid.uuid4().hex
        async with _redis_errors():
            taken, open_calls = await self._acquire(keys=[key], args=[lease, self._max_calls, self._lease_ms])
        if not int(taken):
            raise _too_many_calls(tenant, int(open_calls))
        renewer = asyncio.create_task(self._keep(key, lease))
        try:
            yield
        finally:
            renewer.cancel()
            try:
                await self._redis.zrem(key, lease)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # The lease expires on its own within lease_s.
                log.warning("tenant quota lease not released", tenant=tenant, error=str(exc))

    async def _keep(self, key: str, lease: str) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                await self._renew(keys=[key], args=[lease, self._lease_ms])
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("tenant quota lease not renewed", error=str(exc))

    async def charge(self, tenant: str, size: int) -> None:
        """Count ``size`` uploaded bytes against the tenant's cluster-wide quota.

        Raises:
            ResourceExhausted: over the quota; ``retry_after_s`` is when enough bytes have been refilled.
            Unavailable: Redis cannot be reached.
        """
        async with _redis_errors():
            result = await self._charge(keys=[self._bytes_key(tenant)], args=[self._bytes_per_minute, size])
        if result != "ok":
            raise _over_bytes(tenant, self._bytes_per_minute, float(result))

    async def open_calls(self, tenant: str) -> int:
        """Leases the tenant holds now (expired ones included until the next acquire sweeps them)."""
        async with _redis_errors():
            return int(await self._redis.zcard(self._calls_key(tenant)))

    async def close(self) -> None:
        await self._redis.aclose()
