"""The Kafka layer against a real Kafka-protocol broker (Tansu): trace context across the hop, DLQ for poison
records, retries of transient failures, and resuming from the committed offset after a restart."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from kafka import KafkaConsumer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from ragplane.runtime.kafka import (
    ConsumerOptions,
    ConsumerRunner,
    EventProducer,
    PoisonMessage,
    RetriableError,
    dlq_topic,
    ensure_topics,
)
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import events_pb2

pytestmark = pytest.mark.integration

if not isinstance(trace.get_tracer_provider(), TracerProvider):
    trace.set_tracer_provider(TracerProvider())

FAST = ConsumerOptions(batch_size=16, batch_wait_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.2)


@pytest.fixture
def settings(kafka_bootstrap) -> CommonSettings:
    return load_settings(CommonSettings, {}, kafka_bootstrap=kafka_bootstrap, kafka_partitions=2)


def _event(doc: str, seq: int = 1) -> events_pb2.IndexedEvent:
    return events_pb2.IndexedEvent(tenant="t", doc_id=doc, indexed_chunks=seq)


def _wait(predicate, timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class _Collector:
    def __init__(self, fail_on: set[str] | None = None, transient_failures: int = 0) -> None:
        self.seen: list[str] = []
        self.trace_ids: list[int] = []
        self.fail_on = fail_on or set()
        self.transient_failures = transient_failures
        self.attempts = 0
        self.lock = threading.Lock()

    def __call__(self, batch):
        self.attempts += 1
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise RetriableError("dependency briefly down")
        for envelope in batch:
            if envelope.message.doc_id in self.fail_on:
                raise PoisonMessage(f"cannot index {envelope.message.doc_id}")
        with self.lock:
            for envelope in batch:
                self.seen.append(envelope.message.doc_id)
                self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)


def _runner(settings, topic, group, handler) -> ConsumerRunner:
    runner = ConsumerRunner(
        settings, topic=topic, group=group, message_type=events_pb2.IndexedEvent, handler=handler, options=FAST
    )
    runner.start()
    return runner


def _dlq_records(settings, topic, expected, timeout_s=30.0):
    consumer = KafkaConsumer(
        dlq_topic(topic),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=1000,
    )
    records = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        for record in consumer:
            records.append(record)
    consumer.close()
    return records


def test_topics_are_created_idempotently(settings, unique_topic):
    ensure_topics(settings, [unique_topic])
    ensure_topics(settings, [unique_topic])
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        assert {unique_topic, dlq_topic(unique_topic)} <= consumer.topics()
        assert len(consumer.partitions_for_topic(unique_topic)) == 2
    finally:
        consumer.close()


def test_trace_context_continues_across_the_kafka_hop(settings, unique_topic):
    ensure_topics(settings, [unique_topic])
    producer = EventProducer(settings, "test-producer")
    collector = _Collector()
    runner = _runner(settings, unique_topic, f"g-{uuid.uuid4().hex[:8]}", collector)
    try:
        with trace.get_tracer("test").start_as_current_span("produce-root") as root:
            producer.send(unique_topic, "t/doc-1", _event("doc-1"))
            trace_id = root.get_span_context().trace_id
        _wait(lambda: collector.seen == ["doc-1"], what="the record")
        assert collector.trace_ids == [trace_id]
    finally:
        runner.stop()
        producer.close()


def test_poison_records_go_to_the_dlq_and_the_consumer_keeps_going(settings, unique_topic):
    ensure_topics(settings, [unique_topic])
    producer = EventProducer(settings, "test-producer")
    collector = _Collector(fail_on={"doc-bad"})
    runner = _runner(settings, unique_topic, f"g-{uuid.uuid4().hex[:8]}", collector)
    try:
        producer.send(unique_topic, "t/doc-1", _event("doc-1"))
        producer.send_raw(unique_topic, b"t/garbage", b"\xff\xff not a protobuf \x00", [])
        producer.send(unique_topic, "t/doc-bad", _event("doc-bad"))
        producer.send(unique_topic, "t/wrong-schema", events_pb2.ChunksEvent(doc_id="x"))
        producer.send(unique_topic, "t/doc-2", _event("doc-2"))
        _wait(
            lambda: sorted(collector.seen) == ["doc-1", "doc-2"] and runner.dead_lettered == 3,
            what="good records handled and poison dead-lettered",
        )
        dead = _dlq_records(settings, unique_topic, expected=3)
        assert sorted(r.key for r in dead) == [b"t/doc-bad", b"t/garbage", b"t/wrong-schema"]
        for record in dead:
            headers = dict(record.headers)
            assert headers["ragplane-original-topic"].decode() == unique_topic
            assert headers["ragplane-error"]
        errors_by_key = {r.key: dict(r.headers)["ragplane-error"].decode() for r in dead}
        assert "cannot index doc-bad" in errors_by_key[b"t/doc-bad"]
        assert "ragplane.v1.ChunksEvent" in errors_by_key[b"t/wrong-schema"]
        assert runner.running
    finally:
        runner.stop()
        producer.close()


def test_transient_failures_are_retried_without_dead_lettering(settings, unique_topic):
    ensure_topics(settings, [unique_topic])
    producer = EventProducer(settings, "test-producer")
    collector = _Collector(transient_failures=2)
    runner = _runner(settings, unique_topic, f"g-{uuid.uuid4().hex[:8]}", collector)
    try:
        producer.send(unique_topic, "t/doc-1", _event("doc-1"))
        _wait(lambda: collector.seen == ["doc-1"], what="the retried record")
        assert collector.attempts == 3 and runner.dead_lettered == 0
    finally:
        runner.stop()
        producer.close()


def test_a_restarted_consumer_resumes_from_the_committed_offset(settings, unique_topic):
    ensure_topics(settings, [unique_topic], partitions=1)
    producer = EventProducer(settings, "test-producer")
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = _Collector()
    runner = _runner(settings, unique_topic, group, first)
    try:
        for i in range(5):
            producer.send(unique_topic, f"t/a{i}", _event(f"a{i}"))
        _wait(lambda: len(first.seen) == 5, what="the first five records")
    finally:
        runner.stop()
    for i in range(5):
        producer.send(unique_topic, f"t/b{i}", _event(f"b{i}"))
    second = _Collector()
    runner = _runner(settings, unique_topic, group, second)
    try:
        _wait(lambda: len(second.seen) >= 5, what="the next five records")
        time.sleep(1.0)  # anything re-delivered would show up now
        assert second.seen == [f"b{i}" for i in range(5)]
        assert first.seen == [f"a{i}" for i in range(5)]
    finally:
        runner.stop()
        producer.close()
