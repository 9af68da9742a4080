"""Version order across replicas and shutdown during a publish, on a real broker and Redis.

- Two ingest replicas share the registry: the upload that arrived last must win, whichever parses faster.
- Stopping the service right after an upload must not strand the document in QUEUED.
"""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from support.ingest import Doc, make_settings, running_ingest, upsert
from support.servers import serve

from ragplane.v1 import ingest_pb2, ingest_pb2_grpc
from ragplane_ingest.app import IngestApp
from ragplane_ingest.registry import CHUNKED, QUEUED, Registry

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def hold_parsing(app: IngestApp, release: threading.Event) -> threading.Event:
    """Make ``app``'s parser wait for ``release``; returns an event set once a parse has started."""
    pipeline = app.pipeline
    parse = pipeline._parse_and_chunk
    started = threading.Event()

    def slow_parse(doc, data):
        started.set()
        release.wait(30)
        return parse(doc, data)

    pipeline._parse_and_chunk = slow_parse  # type: ignore[method-assign]
    return started


def delay_sends(app: IngestApp, seconds: float) -> None:
    """Make ``app``'s broker acknowledgements arrive ``seconds`` late (a slow broker)."""
    producer = app.producer
    send_many = producer.send_many

    def slow_send_many(*args, **kwargs):
        time.sleep(seconds)
        return send_many(*args, **kwargs)

    producer.send_many = slow_send_many  # type: ignore[method-assign]


async def record_of(settings, doc_id: str):
    registry = Registry.from_url(settings.state_redis_url, settings.redis_prefix)
    try:
        return await registry.get("default", doc_id)
    finally:
        await registry.close()


async def test_the_upload_that_arrived_last_wins_across_replicas(kafka_bootstrap, redis_url):
    settings = make_settings(kafka_bootstrap, redis_url)
    second_settings = make_settings(
        kafka_bootstrap,
        redis_url,
        chunks_topic=settings.chunks_topic,
        indexed_topic=settings.indexed_topic,
        redis_prefix=settings.redis_prefix,
        status_consumer=False,
    )
    release = threading.Event()
    async with running_ingest(settings) as slow, serve(IngestApp(second_settings), second_settings) as fast:
        started = hold_parsing(slow.app, release)
        first = asyncio.create_task(
            upsert(slow.stub(ingest_pb2_grpc.IngestServiceStub), Doc("race.txt", b"the first upload", doc_id="race"))
        )
        assert await asyncio.to_thread(started.wait, 30), "the first upload never reached its parser"
        second = await upsert(
            fast.stub(ingest_pb2_grpc.IngestServiceStub), Doc("race.txt", b"the second upload", doc_id="race")
        )
        assert second.outcome == ingest_pb2.INGEST_OUTCOME_ACCEPTED
        release.set()
        try:
            await first
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.ABORTED, exc.details()
        record = await record_of(settings, "race")
    assert record.sequence == second.version.sequence, "a slower, earlier upload overwrote the later one"
    assert record.content_hash == second.version.content_hash


async def test_stopping_right_after_an_upload_leaves_no_document_queued(kafka_bootstrap, redis_url):
    settings = make_settings(kafka_bootstrap, redis_url, status_consumer=False)
    app = IngestApp(settings)
    async with serve(app, settings, grace_s=0.0) as served:
        delay_sends(app, 1.5)
        call = asyncio.create_task(
            upsert(served.stub(ingest_pb2_grpc.IngestServiceStub), Doc("late.txt", b"acknowledged late", doc_id="late"))
        )
        deadline = time.monotonic() + 30
        while (await record_of(settings, "late")) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # The server stops (grace 0 cancels the RPC) while the broker has not acknowledged yet.
        await served.running.stop(0.0)
    call.cancel()
    record = await record_of(settings, "late")
    assert record is not None and record.state != QUEUED, f"stranded in {record.state if record else None}"
    assert record.state == CHUNKED
