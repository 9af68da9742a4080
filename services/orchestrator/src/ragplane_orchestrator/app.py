"""The orchestrator's wiring: clients, Redis, caches, the index-change follower, start and stop."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import grpc
import redis.asyncio as aioredis

from ragplane.runtime.errors import Unavailable
from ragplane.runtime.kafka import ConsumerOptions, ConsumerRunner, Envelope, ensure_topics
from ragplane.runtime.tls import redis_tls_options
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

CLIENT_ID = "ragplane-orchestrator"


class RagApp:
    """Builds the orchestrator's collaborators (no I/O), connects them in ``start()``, closes them in ``stop()``."""

    name = "orchestrator"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The client connects on its first command (the ping in start()).
        self.redis = aioredis.from_url(
            settings.redis_url, **redis_tls_options(settings.redis_url, settings.redis_ca_file)
        )
        self.publisher = EventPublisher(settings, CLIENT_ID, settings.events_max_in_flight)
        self.downstream = Downstream(settings)
        self.versions = IndexVersions(self.redis)
        limiter = RateLimiter(self.redis, parse_rate_limits(settings.rate_limits))
        self.feedback = FeedbackRecorder(
            self.redis,
            self.publisher,
            settings.feedback_topic,
            settings.user_hash_salt,
            limiter,
            settings.feedback_rate_limit,
        )
        self.pipeline = QueryPipeline(
            settings,
            self.downstream,
            ExactCache(self.redis, settings.exact_cache_ttl_s),
            SemanticCache(
                self.redis, settings.semantic_cache_ttl_s, settings.semantic_threshold, settings.semantic_max_entries
            ),
            self.versions,
            SessionStore(self.redis, settings.session_ttl_s, settings.session_max_turns),
            limiter,
            self.publisher,
            on_answer=self.feedback.remember_answer,
        )
        # Made in start(): its handler runs on the serving event loop.
        self.follower: ConsumerRunner | None = None

    def register(self, server: grpc.aio.Server) -> list[str]:
        servicer = RagServiceServicer(pipeline=self.pipeline, feedback=self.feedback)
        rag_pb2_grpc.add_RagServiceServicer_to_server(servicer, server)
        return ["ragplane.v1.RagService"]

    async def start(self) -> None:
        """Check Redis, create the topics, connect the producer and channels, follow index changes.

        Raises:
            Unavailable: Redis is not reachable (named with the setting to fix).
        """
        settings = self.settings
        try:
            await self.redis.ping()
        except Exception as exc:  # noqa: BLE001 - reported with the setting to fix
            where = without_password(settings.redis_url)
            raise Unavailable(f"Redis at RAGPLANE_REDIS_URL={where} is not reachable: {exc}") from exc
        await asyncio.to_thread(
            ensure_topics, settings, [settings.answers_topic, settings.feedback_topic, settings.indexed_topic]
        )
        await self.publisher.open()
        self.downstream.open()
        self.follower = ConsumerRunner(
            settings,
            topic=settings.indexed_topic,
            group=settings.cache_group,
            message_type=events_pb2.IndexedEvent,
            handler=self._index_changed,
            loop=asyncio.get_running_loop(),
            options=ConsumerOptions(batch_size=256, batch_wait_s=0.05),
            client_id=CLIENT_ID,
        )
        self.follower.start()

    async def _index_changed(self, batch: list[Envelope[events_pb2.IndexedEvent]]) -> None:
        """Advance the tenants' index versions, so both answer caches miss from now on."""
        for envelope in batch:
            message = envelope.message
            if message.tenant and message.index_version:
                await self.versions.advance(message.tenant, message.index_version)

    def liveness(self) -> list[ConsumerRunner]:
        """The index-change follower once started: the runtime reports NOT_SERVING while it is down."""
        return [self.follower] if self.follower is not None else []

    async def stop(self) -> None:
        if self.follower is not None:
            await asyncio.to_thread(self.follower.stop)
        await self.publisher.close()
        await self.downstream.close()
        await self.redis.aclose()


def without_password(url: str) -> str:
    """``url`` with the password of its user info replaced by ``***`` (the chart puts it there), for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
