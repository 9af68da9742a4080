"""The ingest service's wiring: servicer registration, warm-up (tokenizer, topics, producer, registry,
guardrail channel, status consumer) and shutdown."""

from __future__ import annotations

import asyncio

import grpc

from ragplane.runtime.clients import service_channel
from ragplane.runtime.kafka import ConsumerRunner, EventProducer, ensure_topics
from ragplane.runtime.logs import get_logger
from ragplane.v1 import events_pb2, ingest_pb2_grpc
from ragplane_ingest.chunking import HFTokenizer
from ragplane_ingest.config import Settings
from ragplane_ingest.pipeline import IngestPipeline
from ragplane_ingest.registry import Registry
from ragplane_ingest.scanning import GuardrailScanner
from ragplane_ingest.servicer import IngestServiceServicer
from ragplane_ingest.status import StatusUpdater

log = get_logger(__name__)


class IngestApp:
    """The ingest service. ``pipeline`` is None until ``start`` has warmed everything up."""

    name = "ingest"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pipeline: IngestPipeline | None = None
        self.status_consumer: ConsumerRunner | None = None
        self._producer: EventProducer | None = None
        self._registry: Registry | None = None
        self._guardrail: grpc.aio.Channel | None = None

    def register(self, server: grpc.aio.Server) -> list[str]:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServiceServicer(self), server)
        return ["ragplane.v1.IngestService"]

    async def start(self) -> None:
        settings = self.settings
        if settings.tokenizer_path:
            tokenizer = await asyncio.to_thread(HFTokenizer, settings.tokenizer_path)
        else:
            tokenizer = await asyncio.to_thread(HFTokenizer.default)
        await asyncio.to_thread(ensure_topics, settings, [settings.chunks_topic, settings.indexed_topic])
        self._producer = await asyncio.to_thread(EventProducer, settings, "ragplane-ingest")
        self._registry = Registry.from_url(settings.redis_url, settings.redis_prefix)
        await self._registry.ping()
        scanner = None
        if settings.guardrail_addr:
            self._guardrail = service_channel(settings.guardrail_addr, settings.service_token,
                                              settings.scan_timeout_s)
            scanner = GuardrailScanner(self._guardrail, timeout_s=settings.scan_timeout_s,
                                       batch_chunks=settings.scan_batch_chunks)
        if settings.status_consumer:
            self.status_consumer = ConsumerRunner(
                settings, topic=settings.indexed_topic, group=settings.status_group,
                message_type=events_pb2.IndexedEvent, handler=StatusUpdater(self._registry).handle,
                loop=asyncio.get_running_loop(), client_id="ragplane-ingest-status")
            self.status_consumer.start()
        self.pipeline = IngestPipeline(settings, tokenizer, self._registry, self._producer, scanner)
        log.info("ingest ready", tokenizer=tokenizer.name, chunks_topic=settings.chunks_topic,
                 guardrail=settings.guardrail_addr or "none", scan_required=settings.scan_required)

    async def stop(self) -> None:
        self.pipeline = None
        if self.status_consumer is not None:
            await asyncio.to_thread(self.status_consumer.stop)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)
        if self._guardrail is not None:
            await self._guardrail.close()
        if self._registry is not None:
            await self._registry.close()
