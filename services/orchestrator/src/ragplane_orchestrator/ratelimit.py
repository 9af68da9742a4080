"""Per-tenant rate limits in requests and tokens per minute, and in Feedback calls per minute (fixed one-minute
windows in Redis, shared by every orchestrator replica)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from ragplane.runtime.errors import ResourceExhausted


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, limits: dict[str, tuple[int, int]]) -> None:
        self._redis = redis
        self._limits = limits

    def limits_for(self, tenant: str) -> tuple[int, int]:
        return self._limits.get(tenant, self._limits.get("default", (0, 0)))

    @staticmethod
    def _window() -> tuple[int, float]:
        now = time.time()
        minute = int(now // 60)
        return minute, 60.0 - (now - minute * 60)

    async def admit(self, tenant: str) -> None:
        """Count one request; refuse it when the tenant is over its request or token budget this minute.

        Raises:
            ResourceExhausted: with ``retry_after_s`` until the window resets.
        """
        rpm, tpm = self.limits_for(tenant)
        if not rpm and not tpm:
            return
        minute, retry_after = self._window()
        requests_key = f"rp:rl:req:{tenant}:{minute}"
        tokens_key = f"rp:rl:tok:{tenant}:{minute}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(requests_key)
            pipe.expire(requests_key, 120)
            pipe.get(tokens_key)
            requests, _, tokens = await pipe.execute()
        if rpm and int(requests) > rpm:
            raise ResourceExhausted(
                f"rate limit: tenant {tenant!r} is over {rpm} requests per minute", retry_after_s=retry_after
            )
        if tpm and int(tokens or 0) >= tpm:
            raise ResourceExhausted(
                f"rate limit: tenant {tenant!r} is over {tpm} tokens per minute", retry_after_s=retry_after
            )

    async def charge_tokens(self, tenant: str, tokens: int) -> None:
        rpm, tpm = self.limits_for(tenant)
        if not tpm or tokens <= 0:
            return
        minute, _ = self._window()
        key = f"rp:rl:tok:{tenant}:{minute}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(key, tokens)
            pipe.expire(key, 120)
            await pipe.execute()

    async def admit_calls(self, kind: str, tenant: str, per_minute: int) -> None:
        """Count one ``kind`` call of the tenant; refuse it beyond ``per_minute`` this minute (0 = no limit).

        Raises:
            ResourceExhausted: with ``retry_after_s`` until the window resets.
        """
        if not per_minute:
            return
        minute, retry_after = self._window()
        key = f"rp:rl:{kind}:{tenant}:{minute}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            calls, _ = await pipe.execute()
        if int(calls) > per_minute:
            raise ResourceExhausted(
                f"rate limit: tenant {tenant!r} is over {per_minute} {kind} calls per minute", retry_after_s=retry_after
            )
