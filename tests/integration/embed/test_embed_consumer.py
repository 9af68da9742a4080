"""The chunks consumer against the real broker and the real MiniLM: ChunksEvents in, VectorsEvents out."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from support.servers import serve

from ragplane.runtime.kafka import EventProducer, ensure_topics
from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, events_pb2
from ragplane_embed.app import EmbedApp
from ragplane_embed.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def chunks_event(doc_id: str, texts: list[str], sequence: int = 1, operation=events_pb2.DOCUMENT_OPERATION_UPSERT):
    version = common_pb2.DocumentVersion(content_hash=f"h{sequence}", sequence=sequence)
    event = events_pb2.ChunksEvent(
        tenant="acme",
        doc_id=doc_id,
        version=version,
        operation=operation,
        batch=events_pb2.BatchPosition(index=1, count=3, total_chunks=7),
    )
    for i, text in enumerate(texts):
        event.chunks.append(
            common_pb2.Chunk(
                chunk_id=str(uuid.uuid4()),
                text=text,
                flags=["pii.email"],
                provenance=common_pb2.Provenance(doc_id=doc_id, chunk_index=i),
            )
        )
    return event


async def test_chunks_become_vectors_deletes_pass_through_and_poison_goes_to_the_dlq(
    kafka_bootstrap, unique_topic, topic_reader
):
    vectors_topic = unique_topic.replace(".v1", ".vectors.v1")
    settings = load_settings(
        Settings,
        {},
        allow_dev_key=True,
        kafka_bootstrap=kafka_bootstrap,
        chunks_topic=unique_topic,
        vectors_topic=vectors_topic,
        consumer_group=f"embed-{uuid.uuid4().hex[:8]}",
        batch_wait_s=0.05,
    )
    ensure_topics(settings, [unique_topic, vectors_topic])
    vectors = topic_reader(vectors_topic, events_pb2.VectorsEvent)
    dlq = topic_reader(unique_topic + ".dlq")
    producer = EventProducer(settings, "test-producer")
    try:
        async with serve(EmbedApp(settings), settings) as running:
            assert running.app.consumer.wait_assigned(60)
            upsert = chunks_event(
                "doc-1", ["Photosynthesis turns light into chemical energy.", "Chlorophyll absorbs red and blue light."]
            )
            deleted = chunks_event("doc-2", [], 4, events_pb2.DOCUMENT_OPERATION_DELETE)
            producer.send_many(unique_topic, [("acme/doc-1", upsert), ("acme/doc-2", deleted)])
            got = {r.key: r.message for r in vectors.take(2)}
            out = got["acme/doc-1"]
            assert (out.tenant, out.doc_id, out.version, out.batch) == ("acme", "doc-1", upsert.version, upsert.batch)
            assert out.dense_model == "sentence-transformers/all-MiniLM-L6-v2"
            assert [c.chunk for c in out.chunks] == list(upsert.chunks)
            dense = np.array([list(c.dense) for c in out.chunks])
            assert dense.shape == (2, 384) and np.linalg.norm(dense, axis=1) == pytest.approx([1, 1], abs=1e-5)
            assert all(len(c.sparse.indices) == len(c.sparse.values) > 0 for c in out.chunks)
            deleted = got["acme/doc-2"]
            assert deleted.operation == events_pb2.DOCUMENT_OPERATION_DELETE and len(deleted.chunks) == 0
            assert deleted.version.sequence == 4

            # An undecodable record and an event with an empty chunk go to the DLQ; the next one is embedded.
            producer.send_raw(unique_topic, b"acme/bad", b"\x08\x96\x01\xff garbage", [])
            producer.send_many(
                unique_topic,
                [
                    ("acme/doc-3", chunks_event("doc-3", ["fine", " "])),
                    ("acme/doc-4", chunks_event("doc-4", ["Mitochondria make ATP."])),
                ],
            )
            keys = [r.key for r in vectors.take(3)]
            assert keys[2] == "acme/doc-4"
            dead = dlq.take(2)
            assert sorted(r.key for r in dead) == ["acme/bad", "acme/doc-3"]
            errors = {r.key: dict(r.headers)["ragplane-error"].decode() for r in dead}
            assert "chunks[1].text is empty" in errors["acme/doc-3"]
    finally:
        producer.close()
