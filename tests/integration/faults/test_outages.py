"""Outages in the middle of an ingest: Redis, the broker and the vector store each go away for 30 s while 500
documents go through ingest -> embed (the real MiniLM) -> the index writer (qdrant-edge), in one test process.

The client retries what the platform answers UNAVAILABLE, as a user would. Afterwards every document must be
INDEXED with exactly the chunks ingest reported, each outage window's documents included, and no record may have
been dead-lettered (a dependency that is down is retried, never declared poison).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import grpc
import pytest
from support.ingest import API_KEYS, AUTH, make_settings, running_ingest
from support.servers import Served, serve
from support.topics import TopicReader

from ragplane.runtime.settings import load_settings
from ragplane.v1 import ingest_pb2, ingest_pb2_grpc, retrieve_pb2, retrieve_pb2_grpc
from ragplane_embed.app import EmbedApp
from ragplane_embed.config import Settings as EmbedSettings
from ragplane_retrieve.app import RetrieveApp, build_store
from ragplane_retrieve.config import Settings as RetrieveSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCUMENTS = 500
OUTAGE_S = 30.0
# Each outage starts once this many documents were accepted: about 20 %, 50 % and 80 % of the ingest.
OUTAGES = (("redis", 100), ("broker", 250), ("store", 400))
# Documents accepted this long before an outage are still on their way through embed and the index writer.
IN_FLIGHT_S = 10.0
RETRIABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
TOPICS = ("chunks", "vectors", "indexed")


@dataclass
class Accepted:
    """What ingest reported for a document and when."""

    chunk_count: int
    sequence: int
    at: float


@dataclass
class Window:
    """An outage: what was cut off, from when to when."""

    name: str
    start: float = 0.0
    end: float = 0.0


@dataclass
class Run:
    """What the ingest client and the outage driver saw."""

    accepted: dict[str, Accepted] = field(default_factory=dict)
    retries: int = 0
    windows: list[Window] = field(default_factory=list)


def document(i: int) -> tuple[str, bytes]:
    """A short document (one chunk) with words of its own."""
    doc_id = f"doc-{i:04d}"
    return doc_id, f"Report {i}: the {i % 7}th lighthouse keeper logged {i * 3} ships near harbour {i % 13}.".encode()


async def upsert_with_retries(stub: ingest_pb2_grpc.IngestServiceStub, doc_id: str, data: bytes, run: Run) -> None:
    """Upsert until ingest accepts it; a retriable status is retried after a short pause, anything else fails."""
    header = ingest_pb2.DocumentHeader(doc_id=doc_id, source=f"{doc_id}.txt")
    while True:
        try:
            reply = await stub.UpsertDocument(
                ingest_pb2.UpsertDocumentRequest(header=header, content=data), metadata=AUTH, timeout=60
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in RETRIABLE, f"{doc_id}: {exc.code().name} {exc.details()}"
            run.retries += 1
            await asyncio.sleep(0.5)
            continue
        result = reply.result
        assert result.outcome == ingest_pb2.INGEST_OUTCOME_ACCEPTED, f"{doc_id}: {result}"
        run.accepted[doc_id] = Accepted(result.chunk_count, result.version.sequence, time.monotonic())
        return


async def ingest_all(stub: ingest_pb2_grpc.IngestServiceStub, run: Run, workers: int = 4) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(DOCUMENTS):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            doc_id, data = document(queue.get_nowait())
            await upsert_with_retries(stub, doc_id, data, run)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def drive_outages(run: Run, faults: dict[str, Callable[[bool], None]]) -> None:
    """Cut each dependency off for OUTAGE_S once its share of the documents was accepted."""
    for name, after in OUTAGES:
        while len(run.accepted) < after:
            await asyncio.sleep(0.1)
        window = Window(name, start=time.monotonic())
        faults[name](True)
        await asyncio.sleep(OUTAGE_S)
        faults[name](False)
        window.end = time.monotonic()
        run.windows.append(window)


async def wait_all_indexed(stub: ingest_pb2_grpc.IngestServiceStub, timeout_s: float) -> int:
    """Poll ListDocuments until every document is INDEXED; the number INDEXED at the end."""
    deadline = time.monotonic() + timeout_s
    indexed = 0
    while time.monotonic() < deadline:
        indexed = len(await list_documents(stub, ingest_pb2.DOCUMENT_STATE_INDEXED))
        if indexed == DOCUMENTS:
            break
        await asyncio.sleep(1.0)
    return indexed


async def list_documents(
    stub: ingest_pb2_grpc.IngestServiceStub, state: int = ingest_pb2.DOCUMENT_STATE_UNSPECIFIED
) -> dict[str, ingest_pb2.DocumentStatus]:
    found: dict[str, ingest_pb2.DocumentStatus] = {}
    token = ""
    while True:
        reply = await stub.ListDocuments(
            ingest_pb2.ListDocumentsRequest(page_size=1000, page_token=token, state=state), metadata=AUTH, timeout=30
        )
        found.update((status.doc_id, status) for status in reply.documents)
        token = reply.next_page_token
        if not token:
            return found


async def stored_chunks(stub: retrieve_pb2_grpc.RetrieveServiceStub, doc_id: str) -> int:
    reply = await stub.ListChunks(retrieve_pb2.ListChunksRequest(doc_id=doc_id), metadata=AUTH, timeout=30)
    return len(reply.chunks)


async def problems(
    ingest: ingest_pb2_grpc.IngestServiceStub, retrieve: retrieve_pb2_grpc.RetrieveServiceStub, run: Run
) -> dict[str, str]:
    """doc_id -> what is wrong with it: not accepted, not INDEXED, or another number of chunks than reported."""
    statuses = await list_documents(ingest)
    found: dict[str, str] = {}
    for doc_id in (document(i)[0] for i in range(DOCUMENTS)):
        accepted, status = run.accepted.get(doc_id), statuses.get(doc_id)
        if accepted is None or status is None:
            found[doc_id] = "never accepted" if accepted is None else "unknown to the registry"
            continue
        state = ingest_pb2.DocumentState.Name(status.state)
        stored = await stored_chunks(retrieve, doc_id)
        if state != "DOCUMENT_STATE_INDEXED" or len({accepted.chunk_count, status.chunk_count, stored}) != 1:
            found[doc_id] = (
                f"{state}, reported {accepted.chunk_count} chunks, registry {status.chunk_count}, stored {stored}"
            )
    return found


def by_window(found: dict[str, str], run: Run, shown: int = 3) -> dict[str, str]:
    """The problems per outage their document went through (accepted shortly before or during it): how many,
    and the first few."""
    grouped: dict[str, list[str]] = {}
    for doc_id, problem in sorted(found.items()):
        accepted = run.accepted.get(doc_id)
        at = accepted.at if accepted else 0.0
        names = [w.name for w in run.windows if w.start - IN_FLIGHT_S <= at <= w.end] or ["no outage"]
        for name in names:
            grouped.setdefault(name, []).append(f"{doc_id}: {problem}")
    return {name: f"{len(lines)} wrong, e.g. {'; '.join(lines[:shown])}" for name, lines in grouped.items()}


def window_sizes(run: Run) -> dict[str, int]:
    """How many documents went through each outage (accepted shortly before or during it)."""
    return {w.name: sum(w.start - IN_FLIGHT_S <= a.at <= w.end for a in run.accepted.values()) for w in run.windows}


def dead_letters(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Records on each topic's DLQ."""
    counts = {}
    for topic in topics:
        reader = TopicReader(bootstrap, f"{topic}.dlq")
        try:
            counts[topic] = sum(len(reader.poll(1000)) for _ in range(3))
        finally:
            reader.close()
    return counts


@contextlib.asynccontextmanager
async def pipeline(
    bootstrap: str, redis_address: str, tmp_path, store_wrapper: Callable
) -> AsyncIterator[tuple[Served, Served, Served, dict[str, str]]]:
    """Ingest, embed and retrieve (with its index writer) on fresh topics; yields them and the topic names."""
    ingest_settings = make_settings(bootstrap, f"redis://{redis_address}/0")
    run_id = uuid.uuid4().hex[:8]
    topics = {
        "chunks": ingest_settings.chunks_topic,
        "vectors": f"test.{run_id}.vectors.v1",
        "indexed": ingest_settings.indexed_topic,
    }
    embed_settings = load_settings(
        EmbedSettings,
        {},
        allow_dev_key=True,
        kafka_bootstrap=bootstrap,
        chunks_topic=topics["chunks"],
        vectors_topic=topics["vectors"],
        consumer_group=f"embed-{run_id}",
    )
    retrieve_settings = load_settings(
        RetrieveSettings,
        {},
        allow_dev_key=True,
        api_keys=API_KEYS,
        kafka_bootstrap=bootstrap,
        vectors_topic=topics["vectors"],
        indexed_topic=topics["indexed"],
        writer_group=f"writer-{run_id}",
        edge_path=str(tmp_path / "index"),
        optimize_mode="off",
    )
    retrieve_app = RetrieveApp(retrieve_settings, store_wrapper(build_store(retrieve_settings)))
    async with (
        running_ingest(ingest_settings) as ingest,
        serve(EmbedApp(embed_settings), embed_settings, grace_s=0.5) as embed,
        serve(retrieve_app, retrieve_settings, grace_s=0.5) as retrieve,
    ):
        yield ingest, embed, retrieve, topics


async def test_every_document_is_indexed_with_its_chunks_after_redis_broker_and_store_outages(
    broker_proxy, redis_proxy, flaky_store, tmp_path
):
    stores = []

    def flaky(store):
        stores.append(flaky_store(store))
        return stores[0]

    async with pipeline(broker_proxy.address, redis_proxy.address, tmp_path, flaky) as (
        ingest,
        embed,
        retrieve,
        topics,
    ):
        store = stores[0]
        switches = {
            "redis": lambda down: redis_proxy.cut() if down else redis_proxy.restore(),
            "broker": lambda down: broker_proxy.cut() if down else broker_proxy.restore(),
            "store": lambda down: store.cut() if down else store.restore(),
        }
        ingest_stub = ingest.stub(ingest_pb2_grpc.IngestServiceStub)
        retrieve_stub = retrieve.stub(retrieve_pb2_grpc.RetrieveServiceStub)
        run = Run()
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(ingest_all(ingest_stub, run), drive_outages(run, switches)), 240)
        indexed = await wait_all_indexed(ingest_stub, timeout_s=120)
        found = await problems(ingest_stub, retrieve_stub, run)
        stats = await retrieve_stub.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=AUTH, timeout=30)
        runners = {
            "embed": embed.app.consumer,
            "index writer": retrieve.app.consumer,
            "status": ingest.app.status_consumer,
        }
        dead_lettered = {name: runner.dead_lettered for name, runner in runners.items()}
        on_dlq = await asyncio.to_thread(dead_letters, broker_proxy.address, list(topics.values()))

    elapsed = time.monotonic() - started
    # Shown with a failure: how the run went.
    print(f"{elapsed:.0f} s, {run.retries} retried calls, documents per outage: {window_sizes(run)}")
    # The outages really bit: connections were refused and store calls failed.
    assert redis_proxy.refused > 0 and broker_proxy.refused > 0 and store.failed_calls > 0, (
        redis_proxy.refused,
        broker_proxy.refused,
        store.failed_calls,
    )
    assert [w.name for w in run.windows] == [name for name, _ in OUTAGES]
    assert not found, f"{len(found)} documents wrong after {elapsed:.0f} s, by outage: {by_window(found, run)}"
    assert indexed == DOCUMENTS
    reported = sum(a.chunk_count for a in run.accepted.values())
    assert (stats.document_count, stats.chunk_count) == (DOCUMENTS, reported)
    assert dead_lettered == dict.fromkeys(runners, 0)
    assert on_dlq == dict.fromkeys(topics.values(), 0)
