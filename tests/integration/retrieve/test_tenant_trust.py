"""The index writer does not take a VectorsEvent's word for its tenant.

A record keyed ``alpha/<doc>`` whose payload claims tenant ``bravo``, or a payload tenant that is no valid
tenant name, is poison: it goes to the DLQ with the reason, and bravo's points are untouched. An event that
honestly says ``alpha`` writes and deletes only alpha's points, even with bravo's doc id and chunk ids.
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
BRAVO = [("authorization", "Bearer bravo-key")]


async def bravo_chunks(address: str, doc_id: str) -> list[tuple[int, int, str]]:
    async with grpc.aio.insecure_channel(address) as channel:
        response = await retrieve_pb2_grpc.RetrieveServiceStub(channel).ListChunks(
            retrieve_pb2.ListChunksRequest(doc_id=doc_id), metadata=BRAVO
        )
    return [(c.provenance.chunk_index, c.provenance.version.sequence, c.text) for c in response.chunks]


async def test_an_event_claiming_another_tenant_cannot_overwrite_or_delete_its_points(
    kafka_bootstrap, unique_topic, tmp_path, topic_reader, make_events
):
    vectors, delete = make_events.vectors, make_events.delete
    indexed_topic = unique_topic.replace(".v1", ".indexed.v1")
    settings = load_settings(
        Settings,
        {},
        allow_dev_key=True,
        api_keys="dev-key=default,alpha-key=alpha,bravo-key=bravo",
        kafka_bootstrap=kafka_bootstrap,
        edge_path=str(tmp_path / "store"),
        vectors_topic=unique_topic,
        indexed_topic=indexed_topic,
        writer_group=f"writer-{uuid.uuid4().hex[:8]}",
        optimize_mode="off",
        writer_batch_wait_s=0.05,
    )
    ensure_topics(settings, [unique_topic, indexed_topic])
    indexed = topic_reader(indexed_topic, events_pb2.IndexedEvent)
    dlq = topic_reader(unique_topic + ".dlq")
    producer = EventProducer(settings, "test-producer")
    async with serve(RetrieveApp(settings), settings) as running:
        assert running.app.consumer.wait_assigned(60)

        def send(key: str, event: events_pb2.VectorsEvent) -> None:
            producer.send_many(unique_topic, [(key, event)])

        send("bravo/report", vectors("report", 1, [0, 1, 2], 3, tenant="bravo"))
        assert indexed.messages(1)[0].outcome == events_pb2.INDEX_OUTCOME_INDEXED
        served = await bravo_chunks(running.address, "report")
        assert [c[:2] for c in served] == [(0, 1), (1, 1), (2, 1)]

        # Produced by alpha's pipeline (the key), claiming bravo (the payload): poison, nothing written.
        send("alpha/report", vectors("report", 5, [0, 1, 2], 3, tenant="bravo", seed=7))
        send("alpha/report", delete("report", 9, tenant="bravo"))
        # Not a tenant name at all.
        send("Bravo/report", vectors("report", 6, [0], 1, tenant="Bravo"))
        dead = dlq.take(3)
        # The two keys land on different partitions, so the dead letters come in no fixed order across them.
        reasons = sorted(dict(r.headers)["ragplane-error"].decode() for r in dead)
        assert {dict(r.headers)["ragplane-error-type"] for r in dead} == {b"PoisonMessage"}
        mismatched = [reason for reason in reasons if "key 'alpha/report' names tenant 'alpha'" in reason]
        assert len(mismatched) == 2 and all("'bravo'" in reason for reason in mismatched)
        (invalid,) = [reason for reason in reasons if reason.startswith("VectorsEvent.tenant:")]
        assert "'Bravo'" in invalid

        # Alpha, honest about itself, with bravo's doc id and chunk ids: only alpha's points change.
        send("alpha/report", vectors("report", 5, [0, 1, 2], 3, tenant="alpha", seed=7))
        send("alpha/report", delete("report", 9, tenant="alpha"))
        outcomes = [(e.tenant, e.outcome) for e in indexed.messages(3)[1:]]
        assert outcomes == [("alpha", events_pb2.INDEX_OUTCOME_INDEXED), ("alpha", events_pb2.INDEX_OUTCOME_DELETED)]
        assert await bravo_chunks(running.address, "report") == served
        assert len(dlq.take(3, timeout_s=1)) == 3
