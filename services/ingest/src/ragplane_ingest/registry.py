"""The document registry in Redis: state, version and chunk counts per (tenant, doc_id).

Keys (``{tenant}`` is a hash tag, so one tenant's keys share a cluster slot and scripts may touch several):
- ``<prefix>:{<tenant>}:doc:<doc_id>``  hash: state, content_hash, sequence, chunk_count, indexed_chunks,
  flagged_chunks, unscanned, source, title, reason, updated_at
- ``<prefix>:{<tenant>}:docs``          sorted set of doc ids (score 0: lexicographic order for paging)
- ``<prefix>:{<tenant>}:seq:<doc_id>``  the version sequence (INCR; kept after deletion so it only grows)
- ``<prefix>:{<tenant>}:inflight``      sorted set of the doc ids still on their way (QUEUED, CHUNKED, DELETING),
  scored by their ``updated_at``: where the sweep for documents whose events were lost looks

Every conditional update is a Lua script, so concurrent writers (RPCs, the status consumer, other replicas)
cannot interleave between the check and the write.

These keys are state, not cache: they belong in a Redis that never evicts (RAGPLANE_STATE_REDIS_URL).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ragplane.runtime.errors import Unavailable
from ragplane.runtime.tls import redis_tls_options

QUEUED, CHUNKED, INDEXED, FAILED, DELETED = "QUEUED", "CHUNKED", "INDEXED", "FAILED", "DELETED"
# A delete was produced; DELETED once the index writer's IndexedEvent confirms it.
DELETING = "DELETING"
STATES = (QUEUED, CHUNKED, INDEXED, FAILED, DELETING, DELETED)

# INCR of the document's sequence, never below what the document hash records (should the counter key have
# been lost, sequences still only grow). KEYS: seq, doc.
_NEXT_SEQUENCE = """
local sequence = redis.call('INCR', KEYS[1])
local recorded = tonumber(redis.call('HGET', KEYS[2], 'sequence') or '0')
if sequence <= recorded then
  sequence = recorded + 1
  redis.call('SET', KEYS[1], sequence)
end
return sequence
"""

# Keeps the in-flight set in step with a document's state (appended to every script that changes a state).
# KEYS[1]: doc; KEYS[inflight]: the in-flight set; doc_id: the member.
_TRACK = """
local function track(doc_key, inflight_key, doc_id)
  local state = redis.call('HGET', doc_key, 'state')
  if state == 'QUEUED' or state == 'CHUNKED' or state == 'DELETING' then
    redis.call('ZADD', inflight_key, tonumber(redis.call('HGET', doc_key, 'updated_at') or '0'), doc_id)
  else
    redis.call('ZREM', inflight_key, doc_id)
  end
end
"""

# Sets the fields of a new version unless the stored sequence is already as high.
# KEYS: doc, docs, inflight. ARGV: doc_id, sequence, field, value, ...
_BEGIN = (
    _TRACK
    + """
local current = tonumber(redis.call('HGET', KEYS[1], 'sequence') or '-1')
if current >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'sequence', ARGV[2], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
track(KEYS[1], KEYS[3], ARGV[1])
return 1
"""
)

# Sets fields only while the stored sequence is the given one (and the state the expected one, if given).
# KEYS: doc, inflight. ARGV: sequence, expected state or '', doc_id, field, value, ...
_UPDATE_CURRENT = (
    _TRACK
    + """
local current = redis.call('HGET', KEYS[1], 'sequence')
if not current or tonumber(current) ~= tonumber(ARGV[1]) then return 0 end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'state') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
track(KEYS[1], KEYS[2], ARGV[3])
return 1
"""
)

# A document on its way since before ``cutoff`` (its events lost): FAILED with the reason, if it still is.
# Returns 'failed', 'recent' (progress since the sweep looked; re-scored) or 'done' (no longer on its way).
# KEYS: doc, inflight. ARGV: doc_id, cutoff, now, reason
_GIVE_UP = (
    _TRACK
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'QUEUED' and state ~= 'CHUNKED' then
  track(KEYS[1], KEYS[2], ARGV[1])
  return 'done'
end
if tonumber(redis.call('HGET', KEYS[1], 'updated_at') or '0') > tonumber(ARGV[2]) then
  track(KEYS[1], KEYS[2], ARGV[1])
  return 'recent'
end
redis.call('HSET', KEYS[1], 'state', 'FAILED', 'reason', ARGV[4], 'updated_at', ARGV[3])
track(KEYS[1], KEYS[2], ARGV[1])
return 'failed'
"""
)

# Registers the documents on their way that the in-flight set does not hold (written before it existed).
# KEYS: doc, inflight. ARGV: doc_id
_ADOPT = (
    _TRACK
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then track(KEYS[1], KEYS[2], ARGV[1]) end
return 1
"""
)

# A document that failed before it got a version (unreadable, empty): FAILED with the reason; a document
# seen for the first time is registered with sequence 0.
# KEYS: doc, docs, inflight. ARGV: doc_id, now, reason, source, title
_FAIL_UNVERSIONED = (
    _TRACK
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'sequence', '0', 'content_hash', '', 'chunk_count', '0', 'indexed_chunks', '0',
             'flagged_chunks', '0', 'unscanned', '0', 'source', ARGV[4], 'title', ARGV[5])
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'FAILED', 'reason', ARGV[3], 'updated_at', ARGV[2])
track(KEYS[1], KEYS[3], ARGV[1])
return 1
"""
)

# Applies an IndexedEvent. Events of an older sequence are stale; a newer one than the registry knows (the
# registry was lost or is behind) is adopted, so the registry heals from the index's own events.
# KEYS: doc, docs, inflight. ARGV: doc_id, sequence, content_hash, outcome, indexed_chunks, total_chunks, reason, now
_APPLY_INDEXED = (
    _TRACK
    + """
local sequence = tonumber(ARGV[2])
local outcome = ARGV[4]
local current = redis.call('HGET', KEYS[1], 'sequence')
if current and sequence < tonumber(current) then return 'stale' end
if not current then
  redis.call('HSET', KEYS[1], 'content_hash', ARGV[3], 'sequence', ARGV[2], 'chunk_count', ARGV[6],
             'indexed_chunks', '0', 'flagged_chunks', '0', 'unscanned', '0', 'source', '', 'title', '',
             'reason', '', 'state', 'CHUNKED')
  redis.call('ZADD', KEYS[2], 0, ARGV[1])
elseif sequence > tonumber(current) then
  redis.call('HSET', KEYS[1], 'content_hash', ARGV[3], 'sequence', ARGV[2], 'chunk_count', ARGV[6],
             'indexed_chunks', '0', 'state', 'CHUNKED', 'reason', '')
end
local state = redis.call('HGET', KEYS[1], 'state')
if outcome == 'INDEXED' then
  redis.call('HSET', KEYS[1], 'state', 'INDEXED', 'indexed_chunks', ARGV[5], 'reason', '')
  if tonumber(ARGV[6]) > 0 then redis.call('HSET', KEYS[1], 'chunk_count', ARGV[6]) end
elseif outcome == 'PARTIAL' then
  if state ~= 'QUEUED' and state ~= 'CHUNKED' then return 'ignored' end
  local indexed = math.max(tonumber(redis.call('HGET', KEYS[1], 'indexed_chunks') or '0'), tonumber(ARGV[5]))
  redis.call('HSET', KEYS[1], 'state', 'CHUNKED', 'indexed_chunks', string.format('%d', indexed))
elseif outcome == 'DELETED' then
  redis.call('HSET', KEYS[1], 'state', 'DELETED', 'indexed_chunks', '0', 'chunk_count', '0', 'reason', '')
elseif outcome == 'FAILED' then
  redis.call('HSET', KEYS[1], 'state', 'FAILED', 'reason', ARGV[7])
else
  return 'ignored'
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[8])
track(KEYS[1], KEYS[3], ARGV[1])
return 'applied'
"""
)


@dataclass(frozen=True)
class DocumentRecord:
    """What the registry knows about one document."""

    doc_id: str
    state: str
    content_hash: str = ""
    sequence: int = 0
    chunk_count: int = 0
    indexed_chunks: int = 0
    flagged_chunks: int = 0
    unscanned: bool = False
    source: str = ""
    title: str = ""
    reason: str = ""
    updated_at: float = 0.0

    @classmethod
    def from_hash(cls, doc_id: str, fields: dict[str, str]) -> DocumentRecord:
        return cls(
            doc_id=doc_id,
            state=fields.get("state", QUEUED),
            content_hash=fields.get("content_hash", ""),
            sequence=int(fields.get("sequence", "0") or 0),
            chunk_count=int(fields.get("chunk_count", "0") or 0),
            indexed_chunks=int(fields.get("indexed_chunks", "0") or 0),
            flagged_chunks=int(fields.get("flagged_chunks", "0") or 0),
            unscanned=fields.get("unscanned", "0") == "1",
            source=fields.get("source", ""),
            title=fields.get("title", ""),
            reason=fields.get("reason", ""),
            updated_at=float(fields.get("updated_at", "0") or 0.0),
        )


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise Unavailable(f"document registry (Redis) unavailable: {exc}") from exc


class Registry:
    """Document state in Redis. Every method raises ``Unavailable`` when Redis cannot be reached."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._next_sequence = client.register_script(_NEXT_SEQUENCE)
        self._begin = client.register_script(_BEGIN)
        self._update_current = client.register_script(_UPDATE_CURRENT)
        self._fail_unversioned = client.register_script(_FAIL_UNVERSIONED)
        self._apply_indexed = client.register_script(_APPLY_INDEXED)
        self._give_up = client.register_script(_GIVE_UP)
        self._adopt = client.register_script(_ADOPT)

    @classmethod
    def from_url(cls, url: str, prefix: str, timeout_s: float = 5.0, *, ca_file: str = "") -> Registry:
        """A registry on the Redis at ``url`` (``rediss://`` verifies the server against ``ca_file``)."""
        client = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            **redis_tls_options(url, ca_file),
        )
        return cls(client, prefix)

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> None:
        async with _redis_errors():
            await self._redis.ping()

    def _doc_key(self, tenant: str, doc_id: str) -> str:
        return f"{self._prefix}:{{{tenant}}}:doc:{doc_id}"

    def _docs_key(self, tenant: str) -> str:
        return f"{self._prefix}:{{{tenant}}}:docs"

    def _seq_key(self, tenant: str, doc_id: str) -> str:
        return f"{self._prefix}:{{{tenant}}}:seq:{doc_id}"

    def _inflight_key(self, tenant: str) -> str:
        return f"{self._prefix}:{{{tenant}}}:inflight"

    async def _tenants(self, suffix: str) -> list[str]:
        """Tenants that have a ``<prefix>:{<tenant>}:<suffix>`` key."""
        head = f"{self._prefix}:{{"
        tail = f"}}:{suffix}"
        tenants = []
        async for key in self._redis.scan_iter(match=f"{head}*{tail}", count=1000):
            if key.startswith(head) and key.endswith(tail):
                tenants.append(key[len(head) : -len(tail)])
        return tenants

    async def get(self, tenant: str, doc_id: str) -> DocumentRecord | None:
        async with _redis_errors():
            fields = await self._redis.hgetall(self._doc_key(tenant, doc_id))
        return DocumentRecord.from_hash(doc_id, fields) if fields else None

    async def next_sequence(self, tenant: str, doc_id: str) -> int:
        """A sequence higher than any this document had (Redis INCR)."""
        async with _redis_errors():
            return int(await self._next_sequence(keys=[self._seq_key(tenant, doc_id), self._doc_key(tenant, doc_id)]))

    async def begin_version(
        self,
        tenant: str,
        doc_id: str,
        *,
        sequence: int,
        content_hash: str,
        state: str,
        chunk_count: int,
        flagged_chunks: int,
        unscanned: bool,
        source: str,
        title: str,
    ) -> bool:
        """Record a new version (QUEUED for upserts, DELETING for deletes); False if a newer one exists."""
        fields = {
            "content_hash": content_hash,
            "state": state,
            "chunk_count": chunk_count,
            "indexed_chunks": 0,
            "flagged_chunks": flagged_chunks,
            "unscanned": "1" if unscanned else "0",
            "source": source,
            "title": title,
            "reason": "",
            "updated_at": repr(time.time()),
        }
        args: list[str | int] = [doc_id, sequence]
        for key, value in fields.items():
            args.extend((key, value))
        async with _redis_errors():
            return bool(
                await self._begin(
                    keys=[self._doc_key(tenant, doc_id), self._docs_key(tenant), self._inflight_key(tenant)],
                    args=args,
                )
            )

    async def mark_chunked(self, tenant: str, doc_id: str, sequence: int) -> bool:
        """QUEUED -> CHUNKED once every event of the version is acknowledged (unless indexing already moved on)."""
        async with _redis_errors():
            return bool(
                await self._update_current(
                    keys=[self._doc_key(tenant, doc_id), self._inflight_key(tenant)],
                    args=[sequence, QUEUED, doc_id, "state", CHUNKED, "updated_at", repr(time.time())],
                )
            )

    async def mark_failed(
        self, tenant: str, doc_id: str, reason: str, *, sequence: int | None = None, source: str = "", title: str = ""
    ) -> None:
        """FAILED with ``reason``: for ``sequence`` only while it is current, or, without one, a failure
        before the document got a version."""
        async with _redis_errors():
            if sequence is not None:
                await self._update_current(
                    keys=[self._doc_key(tenant, doc_id), self._inflight_key(tenant)],
                    args=[sequence, "", doc_id, "state", FAILED, "reason", reason, "updated_at", repr(time.time())],
                )
                return
            await self._fail_unversioned(
                keys=[self._doc_key(tenant, doc_id), self._docs_key(tenant), self._inflight_key(tenant)],
                args=[doc_id, repr(time.time()), reason, source, title],
            )

    async def apply_indexed(
        self,
        tenant: str,
        doc_id: str,
        *,
        sequence: int,
        content_hash: str,
        outcome: str,
        indexed_chunks: int,
        total_chunks: int,
        reason: str,
    ) -> str:
        """Apply the index writer's report; returns 'applied', 'stale' or 'ignored'. Idempotent."""
        async with _redis_errors():
            result = await self._apply_indexed(
                keys=[self._doc_key(tenant, doc_id), self._docs_key(tenant), self._inflight_key(tenant)],
                args=[doc_id, sequence, content_hash, outcome, indexed_chunks, total_chunks, reason, repr(time.time())],
            )
        return str(result)

    async def list(
        self, tenant: str, *, page_size: int, after: str = "", state: str = ""
    ) -> tuple[list[DocumentRecord], str]:
        """Documents in doc_id order after ``after``, optionally only in ``state``.

        Returns:
            The page and the doc_id to continue after ('' when there is nothing more).
        """
        docs_key = self._docs_key(tenant)
        batch = max(page_size, 100)
        found: list[DocumentRecord] = []
        cursor = after
        async with _redis_errors():
            while True:
                ids = await self._redis.zrangebylex(docs_key, f"({cursor}" if cursor else "-", "+", start=0, num=batch)
                if not ids:
                    return found, ""
                pipe = self._redis.pipeline(transaction=False)
                for doc_id in ids:
                    pipe.hgetall(self._doc_key(tenant, doc_id))
                hashes = await pipe.execute()
                for doc_id, fields in zip(ids, hashes, strict=True):
                    cursor = doc_id
                    if not fields or (state and fields.get("state") != state):
                        continue
                    found.append(DocumentRecord.from_hash(doc_id, fields))
                    if len(found) == page_size:
                        more = await self._redis.zrangebylex(docs_key, f"({cursor}", "+", start=0, num=1)
                        return found, cursor if more else ""
                if len(ids) < batch:
                    return found, ""

    # -- documents on their way -----------------------------------------------------------------------

    async def adopt_in_flight(self) -> int:
        """Enter every QUEUED, CHUNKED or DELETING document into its tenant's in-flight set (documents
        registered before the set existed); returns how many documents were looked at. Idempotent; done once per
        registry (a marker key records it), since every state change since keeps the set in step."""
        looked = 0
        marker = f"{self._prefix}:inflight-adopted"
        async with _redis_errors():
            if await self._redis.exists(marker):
                return 0
            for tenant in await self._tenants("docs"):
                async for doc_id in self._redis.zscan_iter(self._docs_key(tenant), count=1000):
                    member = doc_id[0] if isinstance(doc_id, tuple) else doc_id
                    await self._adopt(keys=[self._doc_key(tenant, member), self._inflight_key(tenant)], args=[member])
                    looked += 1
            await self._redis.set(marker, repr(time.time()))
        return looked

    async def in_flight_since(self, cutoff: float, limit: int = 500) -> list[tuple[str, DocumentRecord]]:
        """(tenant, record) of documents on their way (QUEUED, CHUNKED, DELETING) with no change since
        ``cutoff`` (a ``time.time()``), oldest first, at most ``limit`` per tenant."""
        found: list[tuple[str, DocumentRecord]] = []
        async with _redis_errors():
            for tenant in await self._tenants("inflight"):
                ids = await self._redis.zrangebyscore(self._inflight_key(tenant), "-inf", cutoff, start=0, num=limit)
                for doc_id in ids:
                    fields = await self._redis.hgetall(self._doc_key(tenant, doc_id))
                    if fields:
                        found.append((tenant, DocumentRecord.from_hash(doc_id, fields)))
                    else:
                        await self._redis.zrem(self._inflight_key(tenant), doc_id)
        return found

    async def give_up(self, tenant: str, doc_id: str, *, cutoff: float, reason: str) -> str:
        """FAILED with ``reason`` if the document is still QUEUED or CHUNKED with no change since ``cutoff``.

        Returns:
            'failed', 'recent' (it moved since) or 'done' (no longer on its way).
        """
        async with _redis_errors():
            result = await self._give_up(
                keys=[self._doc_key(tenant, doc_id), self._inflight_key(tenant)],
                args=[doc_id, cutoff, repr(time.time()), reason],
            )
        return str(result)

    async def touch_deleting(self, tenant: str, doc_id: str, sequence: int) -> bool:
        """A deletion's events were sent again: its clock restarts (while ``sequence`` is current and DELETING)."""
        async with _redis_errors():
            return bool(
                await self._update_current(
                    keys=[self._doc_key(tenant, doc_id), self._inflight_key(tenant)],
                    args=[sequence, DELETING, doc_id, "updated_at", repr(time.time())],
                )
            )
