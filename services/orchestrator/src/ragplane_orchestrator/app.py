"""The orchestrator's wiring: clients, Redis, caches, the index-change follower, start and stop."""

from __future__ import annotations

import asyncio

import grpc
import redis.asyncio as aioredis

from ragplane.runtime.errors import Unavailable
from ragplane.runtime.kafka import ConsumerOptions, ConsumerRunner, EventProducer, ensure_topics
from ragplane.runtime.logs import get_logger
from ragplane.v1 import events_pb2, rag_pb2_grpc

from ragplane_orchestrator.cache import ExactCache, IndexVersions, SemanticCache
from ragplane_orchestrator.config import Settings, parse_rate_limits
from ragplane_orchestrator.downstream import Downstream
from ragplane_orchestrator.events import EventPublisher
from ragplane_orchestrator.feedback import FeedbackRecorder
from ragplane_orchestrator.pipeline import QueryPipeline
from ragplane_orchestrator.ratelimit import RateLimiter
from ragplane_orchestrator.servicer import RagServiceServicer
from ragplane_orchestrator.sessions import SessionStore

log = get_logger(__name__)


class RagApp:
    name = "orchestrator"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis: aioredis.Redis | None = None
        self.pipeline: QueryPipeline | None = None
        self.feedback: FeedbackRecorder | None = None
        self._producer: EventProducer | None = None
        self._publisher: EventPublisher | None = None
        self._follower: ConsumerRunner | None = None
        self._downstream: Downstream | None = None

    def register(self, server: grpc.aio.Server) -> list[str]:
        rag_pb2_grpc.add_RagServiceServicer_to_server(RagServiceServicer(self), server)
        return ["ragplane.v1.RagService"]

    async def start(self) -> None:
        settings = self.settings
        self.redis = aioredis.from_url(settings.redis_url)
        try:
            await self.redis.ping()
        except Exception as exc:  # noqa: BLE001 - reported with the setting to fix
            raise Unavailable(f"Redis at RAGPLANE_REDIS_URL={settings.redis_url} is not reachable: {exc}") from exc
        await asyncio.to_thread(ensure_topics, settings,
                                [settings.answers_topic, settings.feedback_topic, settings.indexed_topic])
        self._producer = EventProducer(settings, "ragplane-orchestrator")
        self._publisher = EventPublisher(self._producer)
        versions = IndexVersions(self.redis)
        self._downstream = Downstream(settings)
        self.pipeline = QueryPipeline(
            settings, self._downstream,
            ExactCache(self.redis, settings.exact_cache_ttl_s),
            SemanticCache(self.redis, settings.semantic_cache_ttl_s, settings.semantic_threshold,
                          settings.semantic_max_entries),
            versions,
            SessionStore(self.redis, settings.session_ttl_s, settings.session_max_turns),
            RateLimiter(self.redis, parse_rate_limits(settings.rate_limits)),
            self._publisher,
        )
        self.feedback = FeedbackRecorder(self.redis, self._publisher, settings.feedback_topic,
                                         settings.user_hash_salt)
        self.pipeline.on_answer = self.feedback.remember_answer
        loop = asyncio.get_running_loop()

        async def follow(batch) -> None:
            for envelope in batch:
                message: events_pb2.IndexedEvent = envelope.message
                if message.tenant and message.index_version:
                    await versions.advance(message.tenant, message.index_version)

        self._follower = ConsumerRunner(settings, topic=settings.indexed_topic, group=settings.cache_group,
                                        message_type=events_pb2.IndexedEvent, handler=follow, loop=loop,
                                        options=ConsumerOptions(batch_size=256, batch_wait_s=0.05),
                                        client_id="ragplane-orchestrator")
        self._follower.start()

    async def stop(self) -> None:
        if self._follower is not None:
            await asyncio.to_thread(self._follower.stop)
        if self._publisher is not None:
            await self._publisher.drain()
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)
        if self._downstream is not None:
            await self._downstream.close()
        if self.redis is not None:
            await self.redis.aclose()
