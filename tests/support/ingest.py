"""Helpers of the ingest integration tests: settings, the server under test, stream requests, status polling,
conditions on the chunks topic, indexed events."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.struct_pb2 import Struct

from ragplane.runtime.kafka import EventProducer
from ragplane.v1 import common_pb2, events_pb2, ingest_pb2, ingest_pb2_grpc
from ragplane_ingest.app import IngestApp
from ragplane_ingest.config import Settings, load
from support.servers import Served, serve
from support.topics import TopicReader

API_KEYS = "dev-key=default,key-a=tenant-a,key-b=tenant-b"
AUTH = [("authorization", "Bearer dev-key")]
AUTH_A = [("authorization", "Bearer key-a")]
AUTH_B = [("authorization", "Bearer key-b")]


def make_settings(kafka_bootstrap: str, redis_url: str, **overrides: Any) -> Settings:
    """Settings on unique topics, group and Redis prefix, one partition (so order across documents holds).

    The registry shares ``redis_url`` (the prefix keeps runs apart) unless ``state_redis_url`` is given.
    """
    run = uuid.uuid4().hex[:10]
    values: dict[str, Any] = dict(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        state_redis_url=redis_url,
        kafka_partitions=1,
        api_keys=API_KEYS,
        allow_dev_key=True,
        chunks_topic=f"test.{run}.chunks.v1",
        indexed_topic=f"test.{run}.indexed.v1",
        status_group=f"test-{run}-status",
        redis_prefix=f"test:{run}",
        batch_chunks=4,
        max_document_bytes=200_000,
        guardrail_addr="",
        scan_required=False,
    )
    values.update(overrides)
    return load({}, **values)


@contextlib.asynccontextmanager
async def running_ingest(settings: Settings) -> AsyncIterator[Served]:
    """The ingest service on port 0, once its status consumer owns its partitions."""
    async with serve(IngestApp(settings), settings, grace_s=0.5, metrics=True) as served:
        consumer = served.app.status_consumer
        if consumer is not None:
            assert await asyncio.to_thread(consumer.wait_assigned, 60), "status consumer got no partitions"
        yield served


@contextlib.asynccontextmanager
async def ingest_with_chunks_reader(
    kafka_bootstrap: str, redis_url: str
) -> AsyncIterator[tuple[Settings, ingest_pb2_grpc.IngestServiceStub, TopicReader]]:
    """A running ingest service on fresh topics: its settings, a stub, and a reader of its chunks topic."""
    settings = make_settings(kafka_bootstrap, redis_url)
    async with running_ingest(settings) as served:
        reader = TopicReader(kafka_bootstrap, settings.chunks_topic, events_pb2.ChunksEvent)
        try:
            yield settings, served.stub(ingest_pb2_grpc.IngestServiceStub), reader
        finally:
            reader.close()


@dataclass
class Doc:
    """A document to send: name (source and doc_id), bytes, optional header fields."""

    source: str
    data: bytes
    doc_id: str = ""
    content_type: str = ""
    metadata: dict[str, Any] | None = None
    chunk_size: int = 0
    chunk_overlap: int = 0
    sha256: str = ""
    title: str = ""

    def header(self) -> ingest_pb2.DocumentHeader:
        header = ingest_pb2.DocumentHeader(
            doc_id=self.doc_id,
            source=self.source,
            content_type=self.content_type,
            title=self.title,
            chunking=ingest_pb2.ChunkingOptions(
                chunk_size_tokens=self.chunk_size, chunk_overlap_tokens=self.chunk_overlap
            ),
        )
        if self.metadata is not None:
            metadata = Struct()
            metadata.update(self.metadata)
            header.metadata.CopyFrom(metadata)
        return header


def stream_requests(docs: Iterable[Doc], part_bytes: int = 7000) -> list[ingest_pb2.IngestDocumentsRequest]:
    requests = []
    for doc in docs:
        requests.append(ingest_pb2.IngestDocumentsRequest(header=doc.header()))
        for offset in range(0, len(doc.data), part_bytes):
            requests.append(ingest_pb2.IngestDocumentsRequest(content=doc.data[offset : offset + part_bytes]))
        requests.append(ingest_pb2.IngestDocumentsRequest(end=ingest_pb2.DocumentEnd(sha256=doc.sha256)))
    return requests


async def ingest_stream(
    stub: ingest_pb2_grpc.IngestServiceStub, docs: Sequence[Doc], metadata: Sequence[tuple[str, str]] = AUTH
) -> list[ingest_pb2.DocumentResult]:
    call = stub.IngestDocuments(iter(stream_requests(docs)), metadata=metadata, timeout=120)
    return [response.result async for response in call]


async def upsert(
    stub: ingest_pb2_grpc.IngestServiceStub, doc: Doc, metadata: Sequence[tuple[str, str]] = AUTH
) -> ingest_pb2.DocumentResult:
    reply = await stub.UpsertDocument(
        ingest_pb2.UpsertDocumentRequest(header=doc.header(), content=doc.data), metadata=metadata, timeout=60
    )
    return reply.result


async def wait_for_status(
    stub: ingest_pb2_grpc.IngestServiceStub,
    doc_id: str,
    done: Callable[[ingest_pb2.DocumentStatus], bool],
    *,
    metadata: Sequence[tuple[str, str]] = AUTH,
    timeout_s: float = 60,
) -> ingest_pb2.DocumentStatus:
    """Poll GetDocumentStatus until ``done(status)``; the last status otherwise (the caller's assertion fails)."""
    deadline = time.monotonic() + timeout_s
    while True:
        reply = await stub.GetDocumentStatus(
            ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id), metadata=metadata, timeout=10
        )
        if done(reply.status) or time.monotonic() > deadline:
            return reply.status
        await asyncio.sleep(0.1)


def events_for(records: list[Any], doc_id: str) -> list[events_pb2.ChunksEvent]:
    return [message for _, message, _ in records if message is not None and message.doc_id == doc_id]


def complete(doc_ids: Iterable[str], sequence_of: Callable[[str], int] | None = None) -> Callable[[list[Any]], bool]:
    """A read_until condition: every batch of each document's (given) version has been read."""
    wanted = list(doc_ids)

    def done(records: list[Any]) -> bool:
        for doc_id in wanted:
            events = events_for(records, doc_id)
            if sequence_of is not None:
                events = [e for e in events if e.version.sequence == sequence_of(doc_id)]
            if not events or len({e.batch.index for e in events}) < events[0].batch.count:
                return False
        return True

    return done


def all_chunks(events: list[events_pb2.ChunksEvent]) -> list[common_pb2.Chunk]:
    batches = {event.batch.index: event for event in events}
    return [chunk for index in sorted(batches) for chunk in batches[index].chunks]


async def produce_indexed(settings: Settings, events: Sequence[events_pb2.IndexedEvent]) -> None:
    producer = EventProducer(settings, "test-index-writer")
    try:
        await asyncio.to_thread(
            producer.send_many, settings.indexed_topic, [(f"{e.tenant}/{e.doc_id}", e) for e in events]
        )
    finally:
        await asyncio.to_thread(producer.close)


def indexed_event(
    tenant: str,
    doc_id: str,
    version: common_pb2.DocumentVersion,
    outcome: int,
    *,
    indexed: int = 0,
    total: int = 0,
    reason: str = "",
) -> events_pb2.IndexedEvent:
    return events_pb2.IndexedEvent(
        tenant=tenant,
        doc_id=doc_id,
        version=version,
        outcome=outcome,
        indexed_chunks=indexed,
        total_chunks=total,
        reason=reason,
    )
