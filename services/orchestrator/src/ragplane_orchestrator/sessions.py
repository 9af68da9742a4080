"""Multi-turn sessions in Redis: a capped list of turns per (tenant, principal, session), refreshed TTL on every use.

A session belongs to the caller that started it: its key holds the (hashed) principal as well as the tenant, so
another key of the same tenant that sends the same session id gets a session of its own, never the first one's
history.
"""

from __future__ import annotations

import json
import re

import redis.asyncio as aioredis

from ragplane.runtime.context import hash_identity
from ragplane.runtime.errors import InvalidArgument

_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def validate_session_id(session_id: str) -> str:
    if not _SESSION_ID.match(session_id):
        raise InvalidArgument("session_id", f"must match {_SESSION_ID.pattern}, but got {session_id[:40]!r}")
    return session_id


class SessionStore:
    def __init__(self, redis: aioredis.Redis, ttl_s: int, max_turns: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._max_turns = max_turns

    @staticmethod
    def key(tenant: str, principal: str, session_id: str) -> str:
        return f"rp:session:{tenant}:{hash_identity(principal)}:{session_id}"

    async def history(self, tenant: str, principal: str, session_id: str) -> list[tuple[str, str]]:
        """The principal's earlier turns, oldest first, as (role, text) with role 'user' or 'assistant'."""
        raw = await self._redis.lrange(self.key(tenant, principal, session_id), 0, -1)
        return [tuple(json.loads(item)) for item in raw]  # type: ignore[misc]

    async def append(self, tenant: str, principal: str, session_id: str, question: str, answer: str) -> None:
        key = self.key(tenant, principal, session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(["user", question]), json.dumps(["assistant", answer]))
            pipe.ltrim(key, -2 * self._max_turns, -1)
            pipe.expire(key, self._ttl_s)
            await pipe.execute()
