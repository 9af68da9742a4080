"""DeleteDocument purges the document's dead letters by itself (issue 13, finding F21): ingest appends the purge
marker ``ragplane dlq purge`` writes to every DLQ that may hold the document's events (chunks, vectors, indexed),
so a later ``ragplane dlq replay`` never brings the deleted document back without an operator step.

On the real broker and Redis: an embed stand-in with a bug dead-letters two documents' chunk events; the bug is
fixed, one document is deleted, an event of its deleted version still on its way is dead-lettered after the
marker, and the replay brings back only the other document.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import pytest_asyncio
from support.ingest import AUTH, Doc, complete, events_for, ingest_with_chunks_reader, upsert
from support.topics import TopicReader

from ragplane.cli.main import main
from ragplane.runtime.kafka import (
    PURGE_HEADER,
    TOPIC_VECTORS,
    ConsumerOptions,
    ConsumerRunner,
    EventProducer,
    PoisonMessage,
    dlq_topic,
    topic_name,
)
from ragplane.v1 import events_pb2, ingest_pb2

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DELETE = events_pb2.DOCUMENT_OPERATION_DELETE


class Embed:
    """A chunks consumer with a bug that can be fixed; records (doc_id, sequence, operation) of what it handled."""

    def __init__(self) -> None:
        self.broken = True
        self.handled: list[tuple[str, int, int]] = []
        self._lock = threading.Lock()

    def __call__(self, batch) -> None:
        for envelope in batch:
            event = envelope.message
            if self.broken:
                raise PoisonMessage(f"cannot embed {event.doc_id}")
            with self._lock:
                self.handled.append((event.doc_id, event.version.sequence, event.operation))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(kafka_bootstrap, redis_url):
    async with ingest_with_chunks_reader(kafka_bootstrap, redis_url) as serving:
        yield serving


async def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def dlq(capsys, settings, command: str, topic: str) -> dict:
    capsys.readouterr()
    argv = ["dlq", command, topic, "--bootstrap", settings.kafka_bootstrap, "--topic-prefix", "", "--json"]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def markers(bootstrap: str, topic: str, scope: str) -> list[str]:
    """The purge markers for ``scope`` in ``topic`` (read from its beginning)."""
    reader = TopicReader(bootstrap, topic)
    try:
        deadline = time.monotonic() + 30
        found: list[str] = []
        while not found and time.monotonic() < deadline:
            reader.poll(500)
            found = [
                v.decode() for r in reader.records for k, v in r.headers if k == PURGE_HEADER and v.decode() == scope
            ]
        return found
    finally:
        reader.close()


async def test_a_deleted_documents_dead_letters_are_never_replayed(server, capsys):
    settings, stub, reader = server
    embed = Embed()
    runner = ConsumerRunner(
        settings,
        topic=settings.chunks_topic,
        group=f"{settings.chunks_topic}-embed",
        message_type=events_pb2.ChunksEvent,
        handler=embed,
        options=ConsumerOptions(batch_size=1),
    )
    runner.start()
    try:
        assert await asyncio.to_thread(runner.wait_assigned, 60)
        await upsert(stub, Doc("purge/a.txt", b"the text of a document that will be erased", doc_id="purge-a"))
        await upsert(stub, Doc("purge/b.txt", b"the text of a document that stays", doc_id="purge-b"))
        records = await reader.read_until(complete(["purge-a", "purge-b"]))
        count_a, count_b = len(events_for(records, "purge-a")), len(events_for(records, "purge-b"))
        await wait_for(lambda: runner.dead_lettered == count_a + count_b)

        embed.broken = False  # the bug is fixed; the DELETE is handled, not dead-lettered
        await stub.DeleteDocument(ingest_pb2.DeleteDocumentRequest(doc_id="purge-a"), metadata=AUTH)
        await wait_for(lambda: any(op == DELETE for _, _, op in embed.handled))

        # An event of the deleted version that was still on its way is dead-lettered after the marker.
        embed.broken = True
        late = events_for(records, "purge-a")[0]
        producer = EventProducer(settings, "test-late-event")
        try:
            await asyncio.to_thread(producer.send, settings.chunks_topic, "default/purge-a", late)
        finally:
            producer.close()
        await wait_for(lambda: runner.dead_lettered == count_a + count_b + 1)
        embed.broken = False

        listing = await dlq(capsys, settings, "list", settings.chunks_topic)
        assert sum(p["purge_markers"] for p in listing["partitions"]) == 1
        assert sum(r["count"] for r in listing["reasons"]) == count_a + count_b + 1, "a marker counted as a letter"
        replayed = await dlq(capsys, settings, "replay", settings.chunks_topic)
        assert (replayed["replayed"], replayed["purged"]) == (count_b, count_a + 1), replayed
        await wait_for(lambda: len(embed.handled) == 1 + count_b)
        await asyncio.sleep(2.0)  # nothing else arrives
        assert sorted({doc for doc, _, op in embed.handled if op != DELETE}) == ["purge-b"], embed.handled
    finally:
        await asyncio.to_thread(runner.stop)

    # The vectors and indexed DLQs (the embed and status consumers') carry the marker too.
    for topic in (topic_name(settings, TOPIC_VECTORS), topic_name(settings, settings.indexed_topic)):
        found = await asyncio.to_thread(markers, settings.kafka_bootstrap, dlq_topic(topic), "default/purge-a")
        assert found, f"no purge marker in {dlq_topic(topic)}"
