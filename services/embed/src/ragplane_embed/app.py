"""The embed service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import asyncio

import grpc

from ragplane.runtime.kafka import ConsumerOptions, ConsumerRunner, EventProducer, ensure_topics
from ragplane.runtime.logs import get_logger
from ragplane.v1 import embed_pb2_grpc, events_pb2
from ragplane_embed.config import Settings
from ragplane_embed.consumer import ChunksHandler
from ragplane_embed.embedder import Embedder, build_embedder
from ragplane_embed.servicer import EmbedServiceServicer

log = get_logger(__name__)


class EmbedApp:
    """Embed RPC plus the chunks -> vectors consumer; the model loads in ``start()``."""

    name = "embed"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedder: Embedder = build_embedder(settings)
        self.consumer: ConsumerRunner | None = None
        self._producer: EventProducer | None = None
        if settings.consumer_enabled:
            # Both connect only in start(): building them here is cheap and leaves nothing None while warming up.
            self._producer = EventProducer(settings, "ragplane-embed")
            self.consumer = ConsumerRunner(
                settings,
                topic=settings.chunks_topic,
                group=settings.consumer_group,
                message_type=events_pb2.ChunksEvent,
                handler=ChunksHandler(self.embedder, self._producer, settings.vectors_topic),
                options=ConsumerOptions(batch_size=settings.batch_records, batch_wait_s=settings.batch_wait_s),
            )

    def register(self, server: grpc.aio.Server) -> list[str]:
        servicer = EmbedServiceServicer(embedder=self.embedder, settings=self.settings)
        embed_pb2_grpc.add_EmbedServiceServicer_to_server(servicer, server)
        return ["ragplane.v1.EmbedService"]

    async def start(self) -> None:
        await asyncio.to_thread(self.embedder.start)
        if self.consumer is None or self._producer is None:
            return
        settings = self.settings
        await asyncio.to_thread(ensure_topics, settings, [settings.chunks_topic, settings.vectors_topic])
        await asyncio.to_thread(self._producer.connect)
        await asyncio.to_thread(self.consumer.start)
        log.info("consuming", topic=settings.chunks_topic, group=settings.consumer_group)

    def liveness(self) -> list[ConsumerRunner]:
        """The chunks consumer once started: the runtime reports NOT_SERVING while it is down."""
        return [self.consumer] if self.consumer is not None else []

    async def stop(self) -> None:
        if self.consumer is not None:
            await asyncio.to_thread(self.consumer.stop)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)
        self.embedder.close()
