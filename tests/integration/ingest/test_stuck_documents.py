"""A memory-only broker that crashes takes the events of the documents still on their way with it; the registry
(a durable Redis) would keep them QUEUED or CHUNKED forever. Ingest finds them: past RAGPLANE_INGEST_STUCK_AFTER_S
without progress an upsert becomes FAILED with a reason telling the caller to ingest it again, and a deletion is
sent again. The broker here is really killed (SIGKILL) and a new, empty one started on the same port."""

from __future__ import annotations

import os
import signal
import time

import pytest
from support.ingest import (
    AUTH,
    Doc,
    complete,
    events_for,
    indexed_event,
    make_settings,
    produce_indexed,
    running_ingest,
    upsert,
    wait_for_status,
)
from support.topics import TopicReader

from ragplane.cli import infra
from ragplane.runtime.kafka import ensure_topics
from ragplane.v1 import events_pb2, ingest_pb2, ingest_pb2_grpc

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.asyncio(loop_scope="function")]

STUCK_AFTER_S = 10.0
FAILED = ingest_pb2.DOCUMENT_STATE_FAILED
INDEXED = ingest_pb2.DOCUMENT_STATE_INDEXED
DELETING = ingest_pb2.DOCUMENT_STATE_DELETING


async def test_documents_whose_events_died_with_the_broker_fail_with_a_reason_or_are_sent_again(tmp_path, redis_url):
    port = infra.free_port()
    broker = infra.start_broker(port, tmp_path / "broker-1.log")
    settings = make_settings(
        broker.address, redis_url, stuck_after_s=STUCK_AFTER_S, stuck_check_interval_s=0.5, produce_timeout_s=5.0
    )
    replacement = None
    try:
        async with running_ingest(settings) as served:
            stub = served.stub(ingest_pb2_grpc.IngestServiceStub)
            reader = TopicReader(broker.address, settings.chunks_topic, events_pb2.ChunksEvent)
            texts = {f"lost-{i}": f"document {i} about copper lanterns and harbour ferries".encode() for i in range(3)}
            for doc_id, data in texts.items():
                await upsert(stub, Doc(f"{doc_id}.txt", data, doc_id=doc_id))
            kept = await upsert(stub, Doc("kept.txt", b"a document the index writer confirms", doc_id="kept"))
            await upsert(stub, Doc("gone.txt", b"a document deleted while the broker dies", doc_id="gone"))
            await reader.read_until(complete([*texts, "kept", "gone"]))
            reader.close()
            await produce_indexed(
                settings,
                [indexed_event("default", "kept", kept.version, events_pb2.INDEX_OUTCOME_INDEXED, indexed=1, total=1)],
            )
            assert (await wait_for_status(stub, "kept", lambda s: s.state == INDEXED)).state == INDEXED
            await stub.DeleteDocument(ingest_pb2.DeleteDocumentRequest(doc_id="gone"), metadata=AUTH)

            on_their_way = [await wait_for_status(stub, d, lambda s: False, timeout_s=0) for d in texts]
            assert all(s.state == ingest_pb2.DOCUMENT_STATE_CHUNKED for s in on_their_way), on_their_way
            os.kill(broker.process.pid, signal.SIGKILL)
            broker.process.wait(timeout=10)
            replacement = infra.start_broker(port, tmp_path / "broker-2.log")
            ensure_topics(settings, [settings.chunks_topic, settings.indexed_topic])
            started = time.monotonic()

            bound_s = STUCK_AFTER_S + 20
            for doc_id in texts:
                status = await wait_for_status(stub, doc_id, lambda s: s.state == FAILED, timeout_s=bound_s)
                assert status.state == FAILED, (doc_id, status)
                assert "ingest the document again" in status.reason and "broker" in status.reason, status.reason
            failed_after_s = time.monotonic() - started
            assert (await wait_for_status(stub, "kept", lambda s: False, timeout_s=0)).state == INDEXED

            # The deletion needs no text: its event is produced again, to the new broker.
            fresh = TopicReader(replacement.address, settings.chunks_topic, events_pb2.ChunksEvent)
            try:
                records = await fresh.read_until(lambda rs: bool(events_for(rs, "gone")), timeout_s=bound_s)
            finally:
                fresh.close()
            [resent] = events_for(records, "gone")[:1]
            assert resent.operation == events_pb2.DOCUMENT_OPERATION_DELETE
            assert (await wait_for_status(stub, "gone", lambda s: False, timeout_s=0)).state == DELETING

            # The caller does what the reason says: the same content is accepted again (not UNCHANGED).
            again = await upsert(stub, Doc("lost-0.txt", texts["lost-0"], doc_id="lost-0"))
            assert again.outcome == ingest_pb2.INGEST_OUTCOME_ACCEPTED, again
    finally:
        broker.stop()
        if replacement is not None:
            replacement.stop()
    print(f"stuck documents failed {failed_after_s:.1f}s after the new broker started (stuck_after {STUCK_AFTER_S}s)")


class _NoDeletions:
    async def resend_delete(self, tenant: str, doc_id: str, sequence: int) -> bool:
        raise AssertionError("no document was DELETING")


async def test_one_sweep_fails_every_stuck_document_across_tenants_past_one_batch(redis_url):
    import uuid

    from ragplane_ingest.registry import FAILED as FAILED_STATE
    from ragplane_ingest.registry import INDEXED as INDEXED_STATE
    from ragplane_ingest.registry import QUEUED, Registry
    from ragplane_ingest.stuck import StuckDocuments

    store = Registry.from_url(redis_url, f"test:{uuid.uuid4().hex[:10]}")
    try:
        counts = {"tenant-a": 1200, "tenant-b": 30}
        for tenant, count in counts.items():
            for index in range(count):
                await store.begin_version(
                    tenant,
                    f"doc-{index}",
                    sequence=1,
                    content_hash="h",
                    state=QUEUED,
                    chunk_count=1,
                    flagged_chunks=0,
                    unscanned=False,
                    source="s",
                    title="t",
                )
        done = await store.apply_indexed(
            "tenant-b",
            "doc-0",
            sequence=1,
            content_hash="h",
            outcome="INDEXED",
            indexed_chunks=1,
            total_chunks=1,
            reason="",
        )
        assert done == "applied"
        sweep = StuckDocuments(store, _NoDeletions(), stuck_after_s=60, interval_s=60)
        assert await sweep.sweep(now=time.time() + 30) == {"failed": 0, "deletion_resent": 0}
        result = await sweep.sweep(now=time.time() + 61)
        assert result == {"failed": 1200 + 29, "deletion_resent": 0}
        failed = await store.get("tenant-a", "doc-1199")
        assert failed is not None and failed.state == FAILED_STATE and "ingest the document again" in failed.reason
        indexed = await store.get("tenant-b", "doc-0")
        assert indexed is not None and indexed.state == INDEXED_STATE
        assert await store.in_flight_since(time.time() + 10_000) == []
    finally:
        await store.close()


async def test_documents_registered_before_the_in_flight_set_are_adopted_once(redis_url):
    import uuid

    import redis.asyncio as aioredis

    from ragplane_ingest.registry import Registry

    prefix = f"test:{uuid.uuid4().hex[:10]}"
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    store = Registry.from_url(redis_url, prefix)
    try:
        # As the registry wrote them before the in-flight set existed: a hash and the docs index, nothing more.
        for doc_id, state in (("old-chunked", "CHUNKED"), ("old-indexed", "INDEXED"), ("old-deleting", "DELETING")):
            await raw.hset(
                f"{prefix}:{{tenant-a}}:doc:{doc_id}", mapping={"state": state, "sequence": 3, "updated_at": 5}
            )
            await raw.zadd(f"{prefix}:{{tenant-a}}:docs", {doc_id: 0})
        assert await store.in_flight_since(time.time()) == []
        assert await store.adopt_in_flight() == 3
        adopted = sorted(record.doc_id for _, record in await store.in_flight_since(time.time()))
        assert adopted == ["old-chunked", "old-deleting"]
        assert await store.adopt_in_flight() == 0  # once per registry
    finally:
        await store.close()
        await raw.aclose()
