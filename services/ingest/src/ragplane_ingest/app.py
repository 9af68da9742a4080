"""The ingest service's wiring: the pipeline and its collaborators, servicer registration, warm-up (tokenizer,
topics, producer, registry, guardrail channel, status consumer) and shutdown."""

from __future__ import annotations

import asyncio

import grpc

from ragplane.runtime.kafka import TOPIC_VECTORS, ConsumerRunner, EventProducer, dlq_topic, ensure_topics
from ragplane.runtime.logs import get_logger
from ragplane.v1 import events_pb2, ingest_pb2_grpc
from ragplane_ingest.chunking import HFTokenizer
from ragplane_ingest.config import Settings
from ragplane_ingest.parsing.sandbox import ParseBudget, ParserPool
from ragplane_ingest.pipeline import IngestPipeline
from ragplane_ingest.quotas import RedisTenantQuotas
from ragplane_ingest.registry import Registry
from ragplane_ingest.scanning import GuardrailScanner
from ragplane_ingest.servicer import IngestServiceServicer
from ragplane_ingest.status import StatusUpdater
from ragplane_ingest.stuck import StuckDocuments

log = get_logger(__name__)


class IngestApp:
    """The ingest service: builds the pipeline in ``__init__`` (no I/O), connects and loads in ``start()``."""

    name = "ingest"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tokenizer = HFTokenizer(settings.tokenizer_path) if settings.tokenizer_path else HFTokenizer.default()
        # The producer connects and the Redis client opens connections in start(), not here.
        self.producer = EventProducer(settings, "ragplane-ingest")
        # The registry is state, not cache: it lives in the never-evicting state Redis (an evicted sequence
        # would restart a document's versions and the index writer would drop them as stale).
        self.registry = Registry.from_url(
            settings.state_redis_url, settings.redis_prefix, ca_file=settings.redis_ca_file
        )
        self.scanner: GuardrailScanner | None = None
        if settings.guardrail_addr:
            self.scanner = GuardrailScanner(
                settings.guardrail_addr,
                settings.service_token,
                timeout_s=settings.scan_timeout_s,
                batch_chunks=settings.scan_batch_chunks,
                settings=settings,
            )
        # Its worker processes start in start().
        self.parsers = ParserPool(ParseBudget.from_settings(settings))
        # Per-tenant call and byte quotas shared by every replica, in the same state Redis.
        self.quotas = RedisTenantQuotas.from_url(
            settings.state_redis_url,
            settings.redis_prefix,
            settings.tenant_max_concurrent_calls,
            settings.tenant_bytes_per_minute,
            ca_file=settings.redis_ca_file,
        )
        self.pipeline = IngestPipeline(
            settings,
            self.tokenizer,
            self.registry,
            self.producer,
            self.scanner,
            parsers=self.parsers,
            quotas=self.quotas,
        )
        # Made in start(): its handler runs on the serving event loop.
        self.status_consumer: ConsumerRunner | None = None
        # Documents whose events a restarted broker lost: failed with a reason (or deletions sent again).
        self.stuck = StuckDocuments(
            self.registry,
            self.pipeline,
            stuck_after_s=settings.stuck_after_s,
            interval_s=settings.stuck_check_interval_s,
            lost_before=settings.events_lost_before,
        )

    def register(self, server: grpc.aio.Server) -> list[str]:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServiceServicer(pipeline=self.pipeline), server)
        return ["ragplane.v1.IngestService"]

    async def start(self) -> None:
        """Load the tokenizer, create the topics, connect the producer and Redis, open the guardrail channel."""
        settings = self.settings
        await asyncio.to_thread(self.tokenizer.warm_up)
        await self.parsers.start()
        # With the vectors DLQ: every delete appends a purge marker to it (pipeline.purge_dlqs), also before embed
        # has created it.
        topics = [settings.chunks_topic, settings.indexed_topic, dlq_topic(TOPIC_VECTORS)]
        await asyncio.to_thread(ensure_topics, settings, topics)
        await asyncio.to_thread(self.producer.connect)
        await self.registry.ping()
        if self.scanner is not None:
            self.scanner.open()
        if settings.status_consumer:
            self.status_consumer = ConsumerRunner(
                settings,
                topic=settings.indexed_topic,
                group=settings.status_group,
                message_type=events_pb2.IndexedEvent,
                handler=StatusUpdater(self.registry).handle,
                loop=asyncio.get_running_loop(),
                client_id="ragplane-ingest-status",
            )
            self.status_consumer.start()
        self.stuck.start()
        log.info(
            "ingest ready",
            tokenizer=self.tokenizer.name,
            chunks_topic=settings.chunks_topic,
            guardrail=settings.guardrail_addr or "none",
            scan_required=settings.scan_required,
            tenant_quotas=self.quotas.scope,
        )

    def liveness(self) -> list[ConsumerRunner]:
        """The status consumer once started: the runtime reports NOT_SERVING while it is down."""
        return [self.status_consumer] if self.status_consumer is not None else []

    async def stop(self) -> None:
        """Finish the publishes that outlived their RPCs, stop the status consumer, then close the clients."""
        await self.stuck.stop()
        await self.pipeline.drain()
        await self.parsers.stop()
        if self.status_consumer is not None:
            await asyncio.to_thread(self.status_consumer.stop)
        await asyncio.to_thread(self.producer.close)
        if self.scanner is not None:
            await self.scanner.close()
        await self.registry.close()
        await self.quotas.close()
