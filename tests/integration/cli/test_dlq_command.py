"""``ragplane dlq list|replay`` against a real broker: dead letters of a consumer whose bug was fixed are
listed with their reasons, replayed to the original topic, handled, and never replayed twice."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ragplane.cli.main import main
from ragplane.runtime.kafka import (
    ConsumerOptions,
    ConsumerRunner,
    EventProducer,
    PoisonMessage,
    dlq_topic,
    ensure_topics,
)
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import events_pb2

pytestmark = pytest.mark.integration

DOCS = [f"doc-{n}" for n in range(5)]


class Handler:
    """A consumer's handler with a bug that can be fixed: while broken, every record is poison."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, batch) -> None:
        for envelope in batch:
            if self.broken:
                raise PoisonMessage(f"cannot handle {envelope.message.doc_id}: unknown outcome")
            with self._lock:
                self.handled.append(envelope.message.doc_id)


def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def unreplayed(settings: CommonSettings, dlq: str) -> int:
    """Records of ``dlq`` after the replay group's committed offsets (all of them when it never committed)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=[settings.kafka_bootstrap], group_id="ragplane-dlq-replay")
    try:
        tps = [TopicPartition(dlq, p) for p in consumer.partitions_for_topic(dlq)]
        ends, starts = consumer.end_offsets(tps), consumer.beginning_offsets(tps)
        return sum(ends[tp] - max(consumer.committed(tp) or 0, starts[tp]) for tp in tps)
    finally:
        consumer.close()


def run_cli(capsys, *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["dlq", *argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if code == 0 else {}


@pytest.fixture
def dead_letters(kafka_bootstrap, unique_topic):
    """Five records of ``unique_topic`` dead-lettered by a broken consumer that keeps running."""
    settings = load_settings(CommonSettings, {}, kafka_bootstrap=kafka_bootstrap, kafka_partitions=2)
    ensure_topics(settings, [unique_topic])
    handler = Handler()
    runner = ConsumerRunner(
        settings,
        topic=unique_topic,
        group=f"{unique_topic}-group",
        message_type=events_pb2.IndexedEvent,
        handler=handler,
        options=ConsumerOptions(batch_size=1),
    )
    runner.start()
    assert runner.wait_assigned(60)
    producer = EventProducer(settings, "test-dlq")
    producer.send_many(unique_topic, [(f"default/{d}", events_pb2.IndexedEvent(doc_id=d)) for d in DOCS])
    producer.close()
    wait_for(lambda: runner.dead_lettered == len(DOCS))
    yield settings, unique_topic, handler, runner
    runner.stop()


def test_dead_letters_are_listed_with_their_reasons_per_partition(dead_letters, capsys):
    settings, topic, _, _ = dead_letters
    code, listing = run_cli(capsys, "list", topic, "--bootstrap", settings.kafka_bootstrap)
    assert code == 0
    assert listing["dlq"] == dlq_topic(topic) and listing["target"] == topic
    partitions = listing["partitions"]
    assert sum(p["records"] for p in partitions) == len(DOCS) == sum(p["pending"] for p in partitions)
    for p in partitions:
        if p["records"]:
            assert p["last_offset"] - p["first_offset"] + 1 == p["records"]
    reasons = listing["reasons"]
    assert sum(r["count"] for r in reasons) == len(DOCS)
    assert {r["partition"] for r in reasons} == {p["partition"] for p in partitions if p["records"]}
    for reason in reasons:
        assert reason["error_type"] == "PoisonMessage" and "unknown outcome" in reason["error"]
        assert reason["group"] == f"{topic}-group"
    assert main(["dlq", "list", topic, "--bootstrap", settings.kafka_bootstrap]) == 0
    table = capsys.readouterr().out
    assert "PoisonMessage" in table and dlq_topic(topic) in table


def test_replay_after_the_fix_is_handled_once_and_advances_the_replay_group(dead_letters, capsys):
    settings, topic, handler, runner = dead_letters
    bootstrap = ("--bootstrap", settings.kafka_bootstrap)
    dlq = dlq_topic(topic)

    code, dry = run_cli(capsys, "replay", topic, "--dry-run", *bootstrap)
    assert code == 0 and dry["dry_run"] and dry["replayed"] == len(DOCS)
    assert unreplayed(settings, dlq) == len(DOCS), "a dry run committed"

    handler.broken = False
    code, first = run_cli(capsys, "replay", dlq, "--limit", "2", *bootstrap)
    assert code == 0 and first["replayed"] == 2 and first["target"] == topic
    wait_for(lambda: len(handler.handled) == 2)
    assert unreplayed(settings, dlq) == len(DOCS) - 2

    code, rest = run_cli(capsys, "replay", topic, *bootstrap)
    assert code == 0 and rest["replayed"] == len(DOCS) - 2
    wait_for(lambda: len(handler.handled) == len(DOCS))
    assert sorted(handler.handled) == DOCS and runner.dead_lettered == len(DOCS)
    assert unreplayed(settings, dlq) == 0

    code, again = run_cli(capsys, "replay", topic, *bootstrap)
    assert code == 0 and again["replayed"] == 0, "dead letters were replayed twice"


def test_replay_into_a_dead_letter_queue_is_refused(kafka_bootstrap, unique_topic, capsys):
    code = main(["dlq", "replay", f"{unique_topic}.dlq.dlq", "--bootstrap", kafka_bootstrap])
    assert code == 1
    assert "refusing to replay into the dead-letter queue" in capsys.readouterr().err
