"""Answer caches in Redis, scoped by tenant and by the tenant's index version.

Every key embeds the tenant's current index version, so when the index changes (the retrieve service's
indexed events bump the version) both caches miss from then on, without waiting for a TTL. Old entries then
age out by TTL.

- Exact cache: key = hash(normalised question, filters, options that change the answer).
- Semantic cache: question embeddings of earlier answers, searched by cosine similarity (brute force over at
  most ``max_entries`` vectors per tenant/version/filters). Each replica keeps a local copy of the vectors and
  fetches only the entries appended since its last look (one LLEN per lookup), so a lookup stays in the
  sub-millisecond range while the entries live in Redis, shared by every replica. Log records are fixed-layout
  binary (a server-made entry id, the time, the vector), so nothing a client sends can change how they parse.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis

_SPACES = re.compile(r"\s+")
# A semantic log record: 16 bytes of entry id, the creation time as a little-endian double, float32 vector.
_RECORD_HEAD = struct.Struct("<16sd")


def normalise_question(text: str) -> str:
    return _SPACES.sub(" ", text.strip().lower()).rstrip("?!. ")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class IndexVersions:
    """The tenant's index version as the orchestrator last heard of it (from ``ragplane.indexed.v1``)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    @staticmethod
    def key(tenant: str) -> str:
        return f"rp:index-version:{tenant}"

    async def get(self, tenant: str) -> int:
        raw = await self._redis.get(self.key(tenant))
        return int(raw) if raw else 0

    async def advance(self, tenant: str, version: int) -> int:
        """Raise the stored version to ``version`` (never lowers it); returns the stored value."""
        script = (
            "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') "
            "local new = tonumber(ARGV[1]) "
            "if new > cur then redis.call('SET', KEYS[1], new) return new end return cur"
        )
        return int(await self._redis.eval(script, 1, self.key(tenant), version))


@dataclass
class CachedAnswer:
    answer: str
    citations: list[dict]
    model: str
    request_id: str
    created_at: float
    context: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, raw: str | bytes) -> CachedAnswer:
        return cls(**json.loads(raw))


class ExactCache:
    def __init__(self, redis: aioredis.Redis, ttl_s: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    @staticmethod
    def key(tenant: str, version: int, question: str, scope: str) -> str:
        return f"rp:cache:exact:{tenant}:{version}:{_digest(normalise_question(question), scope)}"

    async def get(self, tenant: str, version: int, question: str, scope: str) -> CachedAnswer | None:
        if not self.enabled:
            return None
        raw = await self._redis.get(self.key(tenant, version, question, scope))
        return CachedAnswer.from_json(raw) if raw else None

    async def put(self, tenant: str, version: int, question: str, scope: str, answer: CachedAnswer) -> None:
        if self.enabled:
            await self._redis.set(self.key(tenant, version, question, scope), answer.to_json(), ex=self._ttl_s)


@dataclass
class _LocalIndex:
    loaded: int = 0
    ids: list[str] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    matrix: np.ndarray | None = None


class SemanticCache:
    def __init__(self, redis: aioredis.Redis, ttl_s: int, threshold: float, max_entries: int) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._threshold = threshold
        self._max_entries = max_entries
        self._local: dict[str, _LocalIndex] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl_s > 0

    @staticmethod
    def _namespace(tenant: str, version: int, scope: str) -> str:
        # "sem2": records of the binary layout (logs of the older "|"-separated one are never read).
        return f"rp:cache:sem2:{tenant}:{version}:{_digest(scope)}"

    async def _refresh(self, namespace: str) -> _LocalIndex:
        local = self._local.setdefault(namespace, _LocalIndex())
        length = await self._redis.llen(f"{namespace}:log")
        if length < local.loaded:  # the list expired and started again
            local = self._local[namespace] = _LocalIndex()
        if length > local.loaded:
            entries = await self._redis.lrange(f"{namespace}:log", local.loaded, length - 1)
            _append_records(local, entries)
            local.loaded = length
        if len(self._local) > 4096:  # bound memory: forget the oldest namespaces
            for stale in list(self._local)[: len(self._local) - 4096]:
                del self._local[stale]
        return local

    async def lookup(
        self, tenant: str, version: int, scope: str, vector: list[float]
    ) -> tuple[CachedAnswer, float] | None:
        """Best earlier answer whose question is at least ``threshold`` similar, with its similarity."""
        if not self.enabled or not vector:
            return None
        namespace = self._namespace(tenant, version, scope)
        local = await self._refresh(namespace)
        if local.matrix is None or not len(local.ids):
            return None
        query = np.asarray(vector, dtype=np.float32)
        query /= np.linalg.norm(query) or 1.0
        scores = local.matrix @ query
        now = time.time()
        for index in np.argsort(-scores)[:5]:
            score = float(scores[index])
            if score < self._threshold:
                return None
            if now - local.created[index] > self._ttl_s:
                continue
            raw = await self._redis.get(f"{namespace}:entry:{local.ids[index]}")
            if raw:
                return CachedAnswer.from_json(raw), score
        return None

    async def put(self, tenant: str, version: int, scope: str, vector: list[float], answer: CachedAnswer) -> None:
        if not self.enabled or not vector:
            return
        namespace = self._namespace(tenant, version, scope)
        query = np.asarray(vector, dtype=np.float32)
        query /= np.linalg.norm(query) or 1.0
        # A server-made id: request ids may repeat, and a repeated id would overwrite another answer.
        raw_id = uuid.uuid4().bytes
        entry_id = raw_id.hex()
        record = _RECORD_HEAD.pack(raw_id, time.time()) + query.tobytes()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{namespace}:entry:{entry_id}", answer.to_json(), ex=self._ttl_s)
            pipe.rpush(f"{namespace}:log", record)
            pipe.expire(f"{namespace}:log", self._ttl_s)
            await pipe.execute()
        length = await self._redis.llen(f"{namespace}:log")
        if length > self._max_entries:
            # Start the namespace afresh rather than trimming the head, which would shift the offsets that
            # every replica's local copy relies on.
            await self._redis.delete(f"{namespace}:log")


def _append_records(local: _LocalIndex, entries: list[bytes]) -> None:
    """Add the log records to the local copy; records of another layout or dimension are skipped.

    Everything is parsed before anything is appended, so ids, times and matrix rows always stay aligned.
    """
    dimension = None if local.matrix is None else local.matrix.shape[1]
    ids, created, vectors = [], [], []
    for raw in entries:
        body = len(raw) - _RECORD_HEAD.size
        if body <= 0 or body % 4:
            continue
        raw_id, stamp = _RECORD_HEAD.unpack_from(raw)
        vector = np.frombuffer(raw, dtype=np.float32, offset=_RECORD_HEAD.size)
        dimension = dimension or len(vector)
        if len(vector) != dimension:
            continue
        ids.append(raw_id.hex())
        created.append(stamp)
        vectors.append(vector)
    if not vectors:
        return
    block = np.vstack(vectors)
    local.matrix = block if local.matrix is None else np.vstack([local.matrix, block])
    local.ids.extend(ids)
    local.created.extend(created)
