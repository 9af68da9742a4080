"""Event sizes against a real broker: an event over RAGPLANE_KAFKA_MAX_MESSAGE_BYTES arrives split into records
under the limit (nothing lost, every part of the same document version), one that cannot be split is refused at
once with an error naming the item and the setting, and topics are created with that max.message.bytes.

Tansu accepts records of any size and describes no topic configs, so the limit is checked on the records read
back and on what the admin client sent; a real Kafka enforces it on the same numbers."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient
from support.topics import TopicReader

from ragplane.runtime.kafka import EventProducer, EventTooLarge, dlq_topic, ensure_topics
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import common_pb2, events_pb2

pytestmark = pytest.mark.integration

LIMIT = 65_536


@pytest.fixture
def settings(kafka_bootstrap) -> CommonSettings:
    return load_settings(
        CommonSettings, {}, kafka_bootstrap=kafka_bootstrap, kafka_partitions=1, kafka_max_message_bytes=LIMIT
    )


def _event(chunk_chars: list[int]) -> events_pb2.ChunksEvent:
    event = events_pb2.ChunksEvent(tenant="t", doc_id="big", operation=events_pb2.DOCUMENT_OPERATION_UPSERT)
    event.version.sequence = 7
    event.batch.index, event.batch.count, event.batch.total_chunks = 0, 1, len(chunk_chars)
    for index, chars in enumerate(chunk_chars):
        event.chunks.append(common_pb2.Chunk(chunk_id=f"c{index}", text=("lorem ipsum " * chars)[:chars]))
    return event


def test_an_event_over_the_limit_arrives_split_into_records_under_it(settings, unique_topic, kafka_bootstrap):
    ensure_topics(settings, [unique_topic])
    event = _event([4_000] * 40)  # about 160 kB
    assert event.ByteSize() > 2 * LIMIT
    producer = EventProducer(settings, "test-producer")
    try:
        producer.send(unique_topic, "t/big", event)
    finally:
        producer.close()
    reader = TopicReader(kafka_bootstrap, unique_topic, events_pb2.ChunksEvent)
    try:
        records = reader.take(3, timeout_s=60)
        reader.poll(1000)
        records = reader.records
    finally:
        reader.close()
    for record in records:
        size = len(record.key) + record.message.ByteSize() + sum(len(k) + len(v) for k, v in record.headers)
        assert size <= LIMIT
        assert (record.message.doc_id, record.message.version.sequence) == ("big", 7)
        assert record.message.batch.total_chunks == 40
    assert [chunk.chunk_id for r in records for chunk in r.message.chunks] == [f"c{i}" for i in range(40)]


def test_an_item_over_the_limit_is_refused_at_once_naming_it(settings, unique_topic):
    ensure_topics(settings, [unique_topic])
    producer = EventProducer(settings, "test-producer")
    started = time.monotonic()
    try:
        with pytest.raises(EventTooLarge) as refused:
            producer.send(unique_topic, "t/big", _event([1_000, 100_000, 1_000]))
    finally:
        producer.close()
    assert time.monotonic() - started < 10
    message = str(refused.value)
    assert message.startswith("ragplane.v1.ChunksEvent.chunks[1]: ")
    assert "-byte limit of one Kafka record" in message
    assert "RAGPLANE_KAFKA_MAX_MESSAGE_BYTES" in message


def test_topics_are_created_with_the_record_size_limit(settings, unique_topic, monkeypatch):
    created = {}
    real = KafkaAdminClient.create_topics

    def create_topics(admin, new_topics, *args, **kwargs):
        created.update({topic.name: topic.topic_configs for topic in new_topics})
        return real(admin, new_topics, *args, **kwargs)

    monkeypatch.setattr(KafkaAdminClient, "create_topics", create_topics)
    ensure_topics(settings, [unique_topic])
    assert created == {
        unique_topic: {"max.message.bytes": str(LIMIT)},
        dlq_topic(unique_topic): {"max.message.bytes": str(LIMIT)},
    }


def test_the_chart_topic_job_creates_and_keeps_topics_at_the_record_size_limit(
    kafka_bootstrap, unique_topic, monkeypatch
):
    script = Path(__file__).parents[3] / "charts" / "ragplane" / "files" / "create-topics.py"
    spec = importlib.util.spec_from_file_location("create_topics", script)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    sent: dict[str, list[dict[str, str]]] = {}
    real_create, real_alter = KafkaAdminClient.create_topics, KafkaAdminClient.alter_configs

    def create_topics(admin, new_topics, *args, **kwargs):
        for topic in new_topics:
            sent.setdefault(topic, []).append(new_topics[topic]["configs"])
        return real_create(admin, new_topics, *args, **kwargs)

    def alter_configs(admin, resources, *args, **kwargs):
        for resource in resources:
            sent.setdefault(resource.name, []).append(resource.configs)
        return real_alter(admin, resources, *args, **kwargs)

    monkeypatch.setattr(KafkaAdminClient, "create_topics", create_topics)
    monkeypatch.setattr(KafkaAdminClient, "alter_configs", alter_configs)
    monkeypatch.setenv("RAGPLANE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("RAGPLANE_KAFKA_MAX_MESSAGE_BYTES", str(LIMIT))
    monkeypatch.setenv(
        "RAGPLANE_TOPICS", json.dumps({unique_topic: {"partitions": 1, "replicationFactor": 1, "retentionMs": 1000}})
    )
    assert job.main() == 0
    assert job.main() == 0  # the second run finds the topic and sets its configs again
    assert [configs["max.message.bytes"] for configs in sent[unique_topic]] == [str(LIMIT)] * 3


def test_the_chart_topic_job_brings_a_topic_a_service_created_to_its_spec(kafka_bootstrap, unique_topic, monkeypatch):
    """A service's ensure_topics may create a topic first (the Job off, or an upgrade that turns it on): the Job
    must still set the retention it does not have, not refuse configs the topic has never had set."""
    script = Path(__file__).parents[3] / "charts" / "ragplane" / "files" / "create-topics.py"
    spec = importlib.util.spec_from_file_location("create_topics_again", script)
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    monkeypatch.setenv("RAGPLANE_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("RAGPLANE_KAFKA_MAX_MESSAGE_BYTES", str(LIMIT))
    settings = load_settings(CommonSettings)
    ensure_topics(settings, [unique_topic], with_dlq=False)
    monkeypatch.setenv(
        "RAGPLANE_TOPICS", json.dumps({unique_topic: {"partitions": 1, "replicationFactor": 1, "retentionMs": 4321}})
    )
    assert job.main() == 0
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        # 'all': the local broker reports every topic config as a default, so the 'dynamic' view is empty.
        described = admin.describe_configs(
            [job.ConfigResource(job.ConfigResourceType.TOPIC, unique_topic)], config_filter="all"
        )
    finally:
        admin.close()
    assert described["topic"][unique_topic]["retention.ms"]["value"] == "4321", described
