"""A dependency outage against a real broker: retriable failures are retried until the dependency is back, never
dead-lettered, and a consumer stopped during the outage leaves the records uncommitted for the next member."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from kafka import KafkaConsumer

from ragplane.runtime.errors import Unavailable
from ragplane.runtime.kafka import ConsumerOptions, ConsumerRunner, EventProducer, dlq_topic, ensure_topics
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import events_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTAGE_S = 20.0
RECORDS = 10
OPTIONS = ConsumerOptions(batch_size=16, batch_wait_s=0.05, backoff_initial_s=0.05, backoff_max_s=1.0)


class _Store:
    """A handler whose dependency is down until ``recover()``: every call raises a retriable ``Unavailable``."""

    def __init__(self, down: bool = True) -> None:
        self.down = down
        self.failed_calls = 0
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def recover(self) -> None:
        self.down = False

    def __call__(self, batch) -> None:
        if self.down:
            self.failed_calls += 1
            raise Unavailable("store: connection refused")
        with self._lock:
            self.seen.extend(envelope.message.doc_id for envelope in batch)


@pytest.fixture
def settings(kafka_bootstrap) -> CommonSettings:
    return load_settings(CommonSettings, {}, kafka_bootstrap=kafka_bootstrap, kafka_partitions=2)


def _runner(settings, topic: str, group: str, handler) -> ConsumerRunner:
    runner = ConsumerRunner(
        settings, topic=topic, group=group, message_type=events_pb2.IndexedEvent, handler=handler, options=OPTIONS
    )
    runner.start()
    return runner


def _produce(settings, topic: str) -> list[str]:
    producer = EventProducer(settings, "test-producer")
    docs = [f"doc-{i}" for i in range(RECORDS)]
    try:
        for doc in docs:
            producer.send(topic, f"t/{doc}", events_pb2.IndexedEvent(tenant="t", doc_id=doc))
    finally:
        producer.close()
    return docs


def _dead_letters(settings, topic: str) -> int:
    """How many records the topic's DLQ holds (read from the start without a group, so it needs no rebalance)."""
    consumer = KafkaConsumer(
        dlq_topic(topic),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    try:
        return sum(1 for _ in consumer)
    finally:
        consumer.close()


def _wait(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.1)


def test_an_outage_dead_letters_nothing_and_every_record_is_handled_after_it(settings, unique_topic):
    ensure_topics(settings, [unique_topic])
    store = _Store(down=True)
    runner = _runner(settings, unique_topic, f"g-{uuid.uuid4().hex[:8]}", store)
    try:
        docs = _produce(settings, unique_topic)
        _wait(lambda: store.failed_calls >= 3, 60, "the handler to fail during the outage")
        time.sleep(OUTAGE_S)
        assert _dead_letters(settings, unique_topic) == 0, "retriable failures reached the dead-letter topic"
        store.recover()
        _wait(lambda: sorted(set(store.seen)) == docs, 60, "every record to be handled after the outage")
        assert runner.running and _dead_letters(settings, unique_topic) == 0
    finally:
        runner.stop()


def test_stopping_during_an_outage_leaves_the_records_to_the_next_member(settings, unique_topic):
    ensure_topics(settings, [unique_topic])
    group = f"g-{uuid.uuid4().hex[:8]}"
    down = _Store(down=True)
    runner = _runner(settings, unique_topic, group, down)
    docs = _produce(settings, unique_topic)
    try:
        _wait(lambda: down.failed_calls >= 3, 60, "the handler to fail during the outage")
    finally:
        runner.stop()  # what SIGTERM does: the service's stop() stops its consumers
    assert down.seen == []
    healthy = _Store(down=False)
    successor = _runner(settings, unique_topic, group, healthy)
    try:
        _wait(lambda: sorted(set(healthy.seen)) == docs, 60, "the next member to get every uncommitted record")
        assert _dead_letters(settings, unique_topic) == 0, "records were dead-lettered on shutdown"
    finally:
        successor.stop()
