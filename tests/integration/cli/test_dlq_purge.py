"""Deleted documents are not brought back from dead-letter queues (issue 13, finding F21, hardening item 7).

On the real local broker: a consumer with a bug dead-letters chunk events; ``ragplane dlq purge`` writes a purge
marker (rewriting nothing) and ``ragplane dlq replay`` then drops every dead letter the marker covers, replays
those dead-lettered after it, and drops a version that a newer one (a delete) in the same DLQ supersedes. The
markers themselves are never replayed.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from ragplane.cli.main import main
from ragplane.runtime.kafka import (
    TOPIC_CHUNKS,
    ConsumerOptions,
    ConsumerRunner,
    EventProducer,
    PoisonMessage,
    ensure_topics,
)
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import common_pb2, events_pb2

pytestmark = pytest.mark.integration

UPSERT = events_pb2.DOCUMENT_OPERATION_UPSERT
DELETE = events_pb2.DOCUMENT_OPERATION_DELETE


class Handler:
    """A consumer with a bug that can be fixed; records what it handled as (tenant, doc_id, sequence, op)."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[tuple[str, str, int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, batch) -> None:
        for envelope in batch:
            event = envelope.message
            if self.broken:
                raise PoisonMessage(f"cannot handle {event.doc_id}")
            with self._lock:
                self.handled.append((event.tenant, event.doc_id, event.version.sequence, event.operation))


def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def event(tenant: str, doc_id: str, sequence: int, operation: int = UPSERT) -> events_pb2.ChunksEvent:
    chunks = [] if operation == DELETE else [common_pb2.Chunk(chunk_id=f"{doc_id}-0", text=f"secret of {doc_id}")]
    return events_pb2.ChunksEvent(
        tenant=tenant,
        doc_id=doc_id,
        version=common_pb2.DocumentVersion(content_hash="h", sequence=sequence),
        operation=operation,
        chunks=chunks,
    )


def cli(capsys, *argv: str) -> dict:
    capsys.readouterr()
    code = main(["dlq", *argv, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.fixture
def broken_consumer(kafka_bootstrap):
    """A chunks topic (the name ends like ragplane's) and a consumer of it whose handler is broken."""
    topic = f"test.{uuid.uuid4().hex[:10]}.{TOPIC_CHUNKS}"
    settings = load_settings(CommonSettings, {}, kafka_bootstrap=kafka_bootstrap, kafka_partitions=2)
    ensure_topics(settings, [topic])
    handler = Handler()
    runner = ConsumerRunner(
        settings,
        topic=topic,
        group=f"{topic}-group",
        message_type=events_pb2.ChunksEvent,
        handler=handler,
        options=ConsumerOptions(batch_size=1),
    )
    runner.start()
    assert runner.wait_assigned(60)
    producer = EventProducer(settings, "test-dlq-purge")

    def dead_letter(events: list[events_pb2.ChunksEvent]) -> None:
        before = runner.dead_lettered
        producer.send_many(topic, [(f"{e.tenant}/{e.doc_id}", e) for e in events])
        wait_for(lambda: runner.dead_lettered == before + len(events))

    yield settings, topic, handler, dead_letter
    producer.close()
    runner.stop()


def test_purged_dead_letters_are_never_replayed_and_later_ones_are(broken_consumer, capsys):
    settings, topic, handler, dead_letter = broken_consumer
    bootstrap = ("--bootstrap", settings.kafka_bootstrap)
    dead_letter([event("t1", f"doc-{n}", 1) for n in range(4)] + [event("t2", "doc-9", 1)])

    one = cli(capsys, "purge", topic, "--tenant", "t1", "--document", "doc-1", *bootstrap)
    assert one["purge"] == "t1/doc-1" and one["dead_letters_covered"] == 1
    whole = cli(capsys, "purge", topic, "--tenant", "t2", *bootstrap)
    assert whole["purge"] == "t2/" and whole["dead_letters_covered"] == 1
    listing = cli(capsys, "list", topic, *bootstrap)
    assert sum(r["count"] for r in listing["reasons"]) == 5, "a purge marker was listed as a dead letter"

    handler.broken = False
    replay = cli(capsys, "replay", topic, *bootstrap)
    assert (replay["replayed"], replay["purged"], replay["superseded"]) == (3, 2, 0)
    wait_for(lambda: len(handler.handled) == 3)
    time.sleep(2.0)  # nothing else (no marker, no purged letter) arrives
    assert sorted(doc for _, doc, _, _ in handler.handled) == ["doc-0", "doc-2", "doc-3"]

    # The document is uploaded again and fails again: dead-lettered after the marker, it is replayed.
    handler.broken = True
    time.sleep(1.1)  # the marker's timestamp is in whole milliseconds; keep the new letter clearly after it
    dead_letter([event("t1", "doc-1", 2)])
    handler.broken = False
    again = cli(capsys, "replay", topic, *bootstrap)
    assert (again["replayed"], again["purged"]) == (1, 0)
    wait_for(lambda: len(handler.handled) == 4)
    assert handler.handled[-1][:3] == ("t1", "doc-1", 2)


def test_a_version_superseded_by_a_later_delete_in_the_dlq_is_dropped(broken_consumer, capsys):
    settings, topic, handler, dead_letter = broken_consumer
    bootstrap = ("--bootstrap", settings.kafka_bootstrap)
    dead_letter([event("t1", "doc-5", 1), event("t1", "doc-5", 2, DELETE), event("t1", "doc-6", 1)])

    handler.broken = False
    dry = cli(capsys, "replay", topic, "--dry-run", *bootstrap)
    assert (dry["replayed"], dry["superseded"]) == (2, 1)
    replay = cli(capsys, "replay", topic, *bootstrap)
    assert (replay["replayed"], replay["superseded"]) == (2, 1)
    wait_for(lambda: len(handler.handled) == 2)
    time.sleep(2.0)
    assert sorted(handler.handled) == [("t1", "doc-5", 2, DELETE), ("t1", "doc-6", 1, UPSERT)]
    assert cli(capsys, "replay", topic, *bootstrap)["replayed"] == 0
