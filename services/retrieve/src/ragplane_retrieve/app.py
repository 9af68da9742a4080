"""The retrieve service's core wiring: the store, the index writer, the optimize policy, the servicer."""

from __future__ import annotations

import asyncio

import grpc

from ragplane.runtime.kafka import ConsumerOptions, ConsumerRunner, EventProducer, ensure_topics
from ragplane.runtime.logs import get_logger
from ragplane.v1 import events_pb2, retrieve_pb2_grpc
from ragplane_retrieve.config import Settings
from ragplane_retrieve.gate import ReadPriorityGate
from ragplane_retrieve.optimize import OptimizePolicy, OptimizeScheduler
from ragplane_retrieve.search import SearchDefaults
from ragplane_retrieve.servicer import RetrieveServiceServicer
from ragplane_retrieve.store.base import VectorStore, parse_metadata_indexes
from ragplane_retrieve.writer import IndexWriter

log = get_logger(__name__)


def build_store(settings: Settings) -> VectorStore:
    """The configured store, not yet opened."""
    indexes = parse_metadata_indexes(settings.metadata_indexes)
    if settings.store == "qdrant":
        from ragplane_retrieve.store.qdrant_collections import Replication
        from ragplane_retrieve.store.qdrant_server import QdrantServerStore, local_location

        location = local_location(settings.qdrant_url)
        return QdrantServerStore(
            "" if location is not None else settings.qdrant_url,
            settings.qdrant_api_key,
            settings.qdrant_collection,
            settings.dimensions,
            indexes,
            settings.qdrant_timeout_s,
            location=location,
            ca_file=settings.qdrant_ca_file,
            replication=Replication(
                settings.qdrant_shards,
                settings.qdrant_replication_factor,
                settings.qdrant_write_consistency,
                settings.qdrant_on_disk_payload,
                settings.qdrant_write_ordering,
            ),
        )
    from ragplane_retrieve.store.edge import EdgeStore

    return EdgeStore(
        settings.store_path,
        settings.dimensions,
        indexes,
        settings.hnsw_m,
        settings.hnsw_ef_construct,
        settings.search_ef or None,
    )


class RetrieveApp:
    """Search / ListChunks / GetIndexStats plus the index writer; the store opens in ``start()``."""

    name = "retrieve"

    def __init__(self, settings: Settings, store: VectorStore | None = None) -> None:
        self.settings = settings
        self.store: VectorStore = store or build_store(settings)
        self.gate = ReadPriorityGate(settings.writer_yield_s)
        self.search_defaults = SearchDefaults(
            settings.default_top_k,
            settings.default_rrf_k,
            settings.min_prefetch,
            settings.tenant_idf,
            serve_unscanned=settings.serve_unscanned,
        )
        self.writer: IndexWriter | None = None
        self.consumer: ConsumerRunner | None = None
        self.optimizer: OptimizeScheduler | None = None
        self._producer: EventProducer | None = None
        if settings.writer_enabled:
            self._build_writer()
        if settings.store == "edge" and settings.optimize_mode == "auto":
            writer = self.writer
            self.optimizer = OptimizeScheduler(
                self.store,
                OptimizePolicy(settings.optimize_threshold, settings.optimize_idle_s),
                (lambda: writer.last_write) if writer is not None else (lambda: 0.0),
                settings.optimize_check_s,
                settings.optimize_timeout_s,
            )

    def _build_writer(self) -> None:
        """The index writer and its consumer; both connect to the broker only in ``start()``."""
        settings = self.settings
        self._producer = EventProducer(settings, "ragplane-index-writer")
        self.writer = IndexWriter(self.store, self._producer, settings.indexed_topic, settings.upsert_batch, self.gate)
        self.consumer = ConsumerRunner(
            settings,
            topic=settings.vectors_topic,
            group=settings.writer_group,
            message_type=events_pb2.VectorsEvent,
            handler=self.writer,
            options=ConsumerOptions(
                batch_size=settings.writer_batch_records, batch_wait_s=settings.writer_batch_wait_s
            ),
        )

    def register(self, server: grpc.aio.Server) -> list[str]:
        servicer = RetrieveServiceServicer(store=self.store, gate=self.gate, search_defaults=self.search_defaults)
        retrieve_pb2_grpc.add_RetrieveServiceServicer_to_server(servicer, server)
        return ["ragplane.v1.RetrieveService"]

    async def start(self) -> None:
        settings = self.settings
        await asyncio.to_thread(self.store.open)
        if self.consumer is not None and self._producer is not None:
            await asyncio.to_thread(ensure_topics, settings, [settings.vectors_topic, settings.indexed_topic])
            await asyncio.to_thread(self._producer.connect)
            await asyncio.to_thread(self.consumer.start)
            log.info("index writer consuming", topic=settings.vectors_topic, group=settings.writer_group)
        if self.optimizer is not None:
            self.optimizer.start()

    def liveness(self) -> list[ConsumerRunner]:
        """The index writer's consumer once started: the runtime reports NOT_SERVING while it is down."""
        return [self.consumer] if self.consumer is not None else []

    async def stop(self) -> None:
        if self.optimizer is not None:
            await self.optimizer.stop()
        if self.consumer is not None:
            await asyncio.to_thread(self.consumer.stop)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)
        await asyncio.to_thread(self.store.close)
