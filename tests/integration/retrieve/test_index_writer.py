"""The index writer against the real broker and qdrant-edge in a temporary folder.

VectorsEvents go to a unique topic; the retrieve service (writer on, optimize off) indexes them; outcomes
are read from a unique indexed topic and the index is read back through the service's own RPCs.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from support.servers import serve

from ragplane.runtime.kafka import EventProducer, ensure_topics
from ragplane.runtime.settings import load_settings
from ragplane.v1 import events_pb2, retrieve_pb2, retrieve_pb2_grpc
from ragplane_retrieve.app import RetrieveApp
from ragplane_retrieve.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
METADATA = [("authorization", "Bearer dev-key")]


@pytest.fixture
def topics(kafka_bootstrap, unique_topic):
    return {
        "vectors": unique_topic,
        "indexed": unique_topic.replace(".v1", ".indexed.v1"),
        "group": f"writer-{uuid.uuid4().hex[:8]}",
    }


def settings_for(kafka_bootstrap, topics, path) -> Settings:
    return load_settings(
        Settings,
        {},
        allow_dev_key=True,
        kafka_bootstrap=kafka_bootstrap,
        edge_path=str(path),
        vectors_topic=topics["vectors"],
        indexed_topic=topics["indexed"],
        writer_group=topics["group"],
        optimize_mode="off",
        writer_batch_wait_s=0.05,
    )


async def chunks_of(address: str, doc_id: str) -> list[tuple[int, int, str]]:
    async with grpc.aio.insecure_channel(address) as channel:
        response = await retrieve_pb2_grpc.RetrieveServiceStub(channel).ListChunks(
            retrieve_pb2.ListChunksRequest(doc_id=doc_id), metadata=METADATA
        )
    return [(c.provenance.chunk_index, c.provenance.version.sequence, c.text) for c in response.chunks]


async def stats(address: str) -> retrieve_pb2.GetIndexStatsResponse:
    async with grpc.aio.insecure_channel(address) as channel:
        return await retrieve_pb2_grpc.RetrieveServiceStub(channel).GetIndexStats(
            retrieve_pb2.GetIndexStatsRequest(), metadata=METADATA
        )


async def test_versions_replays_stale_deletes_poison_and_restart(
    kafka_bootstrap, topics, tmp_path, topic_reader, make_events
):
    vectors_event, delete_event = make_events.vectors, make_events.delete
    settings = settings_for(kafka_bootstrap, topics, tmp_path / "store")
    ensure_topics(settings, [topics["vectors"], topics["indexed"]])
    indexed = topic_reader(topics["indexed"], events_pb2.IndexedEvent)
    dlq = topic_reader(topics["vectors"] + ".dlq")
    producer = EventProducer(settings, "test-producer")
    async with serve(RetrieveApp(settings), settings) as running:
        assert running.app.consumer.wait_assigned(60)

        def send(*events):
            producer.send_many(topics["vectors"], [(f"{e.tenant}/{e.doc_id}", e) for e in events])

        # Version 1 in two batches: PARTIAL, then INDEXED.
        v1 = [vectors_event("a", 1, [0, 1, 2], 5, 0, 2), vectors_event("a", 1, [3, 4], 5, 1, 2)]
        send(*v1)
        got = indexed.messages(2)
        assert [e.outcome for e in got] == [events_pb2.INDEX_OUTCOME_PARTIAL, events_pb2.INDEX_OUTCOME_INDEXED]
        assert [e.indexed_chunks for e in got] == [3, 5]
        assert got[1].index_version > got[0].index_version > 0
        assert [c[:2] for c in await chunks_of(running.address, "a")] == [(i, 1) for i in range(5)]
        version_after_v1 = (await stats(running.address)).index_version

        # A replay of both batches changes nothing.
        send(*v1)
        got = indexed.messages(4)
        assert [e.outcome for e in got[2:]] == [events_pb2.INDEX_OUTCOME_INDEXED, events_pb2.INDEX_OUTCOME_INDEXED]
        assert (await stats(running.address)).chunk_count == 5
        assert (await stats(running.address)).index_version == version_after_v1

        # Version 2 has 3 chunks: it replaces version 1 entirely, no stale chunk survives.
        send(vectors_event("a", 2, [0, 1, 2], 3))
        assert indexed.messages(5)[4].outcome == events_pb2.INDEX_OUTCOME_INDEXED
        assert await chunks_of(running.address, "a") == [(i, 2, f"v2 chunk {i}") for i in range(3)]

        # A late batch of version 1 is stale and skipped.
        send(v1[1])
        late = indexed.messages(6)[5]
        assert late.outcome == events_pb2.INDEX_OUTCOME_STALE and "sequence 2" in late.reason
        assert [c[1] for c in await chunks_of(running.address, "a")] == [2, 2, 2]

        # A poison record goes to the DLQ and the writer goes on with the next one.
        producer.send_raw(topics["vectors"], b"default/bad", b"\xff\xfe not a protobuf", [])
        bad_dims = vectors_event("b", 1, [0], 1)
        del bad_dims.chunks[0].dense[10:]
        send(bad_dims, vectors_event("c", 1, [0, 1], 2))
        assert indexed.messages(7)[6].doc_id == "c"
        dead = dlq.take(2)
        assert {dict(r.headers).get("ragplane-error-type") for r in dead} == {b"PoisonMessage"}
        assert await chunks_of(running.address, "b") == []

        # Delete removes every chunk of the document.
        send(delete_event("a", 3))
        assert indexed.messages(8)[7].outcome == events_pb2.INDEX_OUTCOME_DELETED
        assert await chunks_of(running.address, "a") == []
        before_restart = await stats(running.address)
        assert (before_restart.chunk_count, before_restart.document_count) == (2, 1)
        assert before_restart.backend == "qdrant-edge"

    # A new writer process on the same folder: the state survived, version 2 is now stale.
    try:
        async with serve(RetrieveApp(settings), settings) as running:
            assert running.app.consumer.wait_assigned(60)
            after = await stats(running.address)
            assert (after.chunk_count, after.document_count, after.index_version) == (
                2,
                1,
                before_restart.index_version,
            )
            producer.send_many(topics["vectors"], [("default/a", vectors_event("a", 2, [0, 1, 2], 3))])
            assert indexed.messages(9)[8].outcome == events_pb2.INDEX_OUTCOME_STALE
            assert await chunks_of(running.address, "a") == []
    finally:
        producer.close()
