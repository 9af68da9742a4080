"""The ingest service on loopback against a real broker and Redis: events, versions, failures, status."""

from __future__ import annotations

import hashlib

import grpc
import pytest
import pytest_asyncio
from support.ingest import (
    AUTH,
    AUTH_A,
    AUTH_B,
    Doc,
    all_chunks,
    complete,
    events_for,
    indexed_event,
    ingest_stream,
    ingest_with_chunks_reader,
    produce_indexed,
    stream_requests,
    upsert,
    wait_for_status,
)
from support.ingest_docgen import make_docx, make_pdf
from support.topics import TopicReader

from ragplane.runtime.kafka import dlq_topic
from ragplane.runtime.rpc_status import code_name
from ragplane.v1 import events_pb2, ingest_pb2
from ragplane_ingest.versioning import chunk_id

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ACCEPTED = ingest_pb2.INGEST_OUTCOME_ACCEPTED
UNCHANGED = ingest_pb2.INGEST_OUTCOME_UNCHANGED
FAILED = ingest_pb2.INGEST_OUTCOME_FAILED

PROSE = (
    "Kafka carries every document event keyed by tenant and document, so one document's upserts and "
    "deletes stay in order. "
) * 12

MARKDOWN = f"# Guide\n\nIntro words.\n\n## Install\n\n{PROSE}\n\n## Use\n\nRun it.\n".encode()
HTML = (
    b"<html><head><title>Web Page</title><script>evil()</script></head><body><nav>menu</nav>"
    b"<h1>Overview</h1><p>Hello from HTML.</p><h2>Details</h2><p>More text here.</p></body></html>"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(kafka_bootstrap, redis_url):
    async with ingest_with_chunks_reader(kafka_bootstrap, redis_url) as serving:
        yield serving


def mixed_folder() -> list[Doc]:
    return [
        Doc("corpus/guide.md", MARKDOWN, doc_id="guide.md", metadata={"team": "docs", "year": 2024}),
        Doc("corpus/page.html", HTML, doc_id="page.html"),
        Doc(
            "corpus/paper.pdf",
            make_pdf(["Abstract\nFirst page words.", "Results\nSecond page words."]),
            doc_id="paper.pdf",
        ),
        Doc(
            "corpus/memo.docx",
            make_docx([("heading1", "Memo"), ("p", "Body of the memo."), ("table", [["k", "v"], ["a", "1"]])]),
            doc_id="memo.docx",
        ),
        Doc("corpus/notes.txt", PROSE.encode(), doc_id="notes.txt", chunk_size=64, chunk_overlap=8),
    ]


async def test_folder_of_mixed_formats_produces_chunks_with_full_provenance(server):
    settings, stub, reader = server
    docs = mixed_folder()
    results = await ingest_stream(stub, docs)
    assert [(r.doc_id, r.outcome) for r in results] == [(d.doc_id, ACCEPTED) for d in docs]
    by_id = {r.doc_id: r for r in results}
    records = await reader.read_until(complete(by_id))
    for doc in docs:
        result = by_id[doc.doc_id]
        events = events_for(records, doc.doc_id)
        keys = {key for key, message, _ in records if message is not None and message.doc_id == doc.doc_id}
        assert keys == {f"default/{doc.doc_id}"}
        assert {e.tenant for e in events} == {"default"}
        assert {e.operation for e in events} == {events_pb2.DOCUMENT_OPERATION_UPSERT}
        assert {(e.version.content_hash, e.version.sequence) for e in events} == {
            (result.version.content_hash, result.version.sequence)
        }
        assert sorted(e.batch.index for e in events) == list(range(events[0].batch.count))
        chunks = all_chunks(events)
        assert len(chunks) == result.chunk_count == events[0].batch.total_chunks
        for index, chunk in enumerate(chunks):
            p = chunk.provenance
            assert chunk.chunk_id == chunk_id("default", doc.doc_id, index)
            assert (p.doc_id, p.chunk_index, p.source) == (doc.doc_id, index, doc.source)
            assert (p.version.content_hash, p.version.sequence) == (
                result.version.content_hash,
                result.version.sequence,
            )
            assert p.char_end - p.char_start == len(chunk.text) > 0
            assert list(chunk.flags) == ["unscanned"]
    chunks = {doc.doc_id: all_chunks(events_for(records, doc.doc_id)) for doc in docs}
    guide = chunks["guide.md"]
    assert {tuple(c.provenance.section_path) for c in guide} >= {("Guide",), ("Guide", "Install"), ("Guide", "Use")}
    assert dict(guide[0].provenance.metadata) == {"team": "docs", "year": 2024}
    assert guide[0].provenance.title == "Guide"
    assert [c.provenance.page for c in chunks["paper.pdf"]] == [1, 2]
    assert "evil" not in " ".join(c.text for c in chunks["page.html"])
    assert chunks["page.html"][0].provenance.title == "Web Page"
    assert tuple(chunks["page.html"][-1].provenance.section_path) == ("Overview", "Details")
    assert "| a | 1 |" in chunks["memo.docx"][-1].text
    assert tuple(chunks["memo.docx"][0].provenance.section_path) == ("Memo",)
    notes = chunks["notes.txt"]
    assert len(notes) > 2 and all(b.provenance.char_start < a.provenance.char_end for a, b in zip(notes, notes[1:]))
    status = await stub.GetDocumentStatus(ingest_pb2.GetDocumentStatusRequest(doc_id="guide.md"), metadata=AUTH)
    assert status.status.state in (ingest_pb2.DOCUMENT_STATE_CHUNKED, ingest_pb2.DOCUMENT_STATE_INDEXED)
    assert (status.status.chunk_count, status.status.source) == (by_id["guide.md"].chunk_count, "corpus/guide.md")


async def test_unchanged_content_is_a_noop_and_changed_content_replaces_the_version(server):
    settings, stub, reader = server
    first = await upsert(stub, Doc("v/doc.md", MARKDOWN, doc_id="versioned"))
    assert first.outcome == ACCEPTED
    before = await reader.read_until(complete(["versioned"]))
    old_chunks = all_chunks(events_for(before, "versioned"))

    again = await upsert(stub, Doc("v/doc.md", MARKDOWN, doc_id="versioned"))
    assert again.outcome == UNCHANGED
    assert (again.version.sequence, again.version.content_hash) == (first.version.sequence, first.version.content_hash)
    assert again.chunk_count == first.chunk_count
    sentinel = await upsert(stub, Doc("v/sentinel.txt", b"sentinel after the unchanged upsert", doc_id="sentinel-1"))
    between = await reader.read_until(complete(["sentinel-1"]))
    assert sentinel.outcome == ACCEPTED
    assert events_for(between, "versioned") == [], "an unchanged document produced events"

    changed = await upsert(stub, Doc("v/doc.md", MARKDOWN.replace(b"Run it.", b"Run it twice."), doc_id="versioned"))
    assert changed.outcome == ACCEPTED
    assert changed.version.sequence > first.version.sequence
    assert changed.version.content_hash != first.version.content_hash
    after = await reader.read_until(complete(["versioned"]))
    new_chunks = all_chunks(events_for(after, "versioned"))
    assert {c.provenance.version.sequence for c in new_chunks} == {changed.version.sequence}
    assert [c.chunk_id for c in new_chunks][: len(old_chunks)] == [c.chunk_id for c in old_chunks][: len(new_chunks)]

    rechunked = await upsert(
        stub, Doc("v/doc.md", MARKDOWN.replace(b"Run it.", b"Run it twice."), doc_id="versioned", chunk_size=64)
    )
    assert rechunked.outcome == ACCEPTED and rechunked.version.sequence > changed.version.sequence


async def test_delete_produces_a_delete_event_under_a_newer_sequence(server):
    settings, stub, reader = server
    created = await upsert(stub, Doc("d/gone.txt", b"soon deleted text", doc_id="gone"))
    await reader.read_until(complete(["gone"]))
    deleted = await stub.DeleteDocument(ingest_pb2.DeleteDocumentRequest(doc_id="gone"), metadata=AUTH)
    assert deleted.version.sequence > created.version.sequence
    records = await reader.read_until(lambda rs: bool(events_for(rs, "gone")))
    [event] = events_for(records, "gone")
    assert event.operation == events_pb2.DOCUMENT_OPERATION_DELETE and not event.chunks
    assert event.version.sequence == deleted.version.sequence
    status = await stub.GetDocumentStatus(ingest_pb2.GetDocumentStatusRequest(doc_id="gone"), metadata=AUTH)
    assert status.status.state == ingest_pb2.DOCUMENT_STATE_DELETING

    again = await stub.DeleteDocument(ingest_pb2.DeleteDocumentRequest(doc_id="gone"), metadata=AUTH)
    assert again.version.sequence == deleted.version.sequence
    revived = await upsert(stub, Doc("d/gone.txt", b"soon deleted text", doc_id="gone"))
    assert revived.outcome == ACCEPTED and revived.version.sequence > deleted.version.sequence
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.DeleteDocument(ingest_pb2.DeleteDocumentRequest(doc_id="never-existed"), metadata=AUTH)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND and "never-existed" in info.value.details()


async def test_bad_documents_fail_alone_while_the_stream_goes_on(server):
    settings, stub, reader = server
    good_pdf = make_pdf(["fine page"])
    docs = [
        Doc("bad/first.md", b"# First\n\nfine", doc_id="bad-first"),
        Doc("bad/corrupt.pdf", good_pdf[: len(good_pdf) // 2], doc_id="bad-corrupt"),
        Doc("bad/locked.pdf", make_pdf(["secret"], user_password="pw"), doc_id="bad-locked"),
        Doc("bad/empty.txt", b"  \n\t\n", doc_id="bad-empty"),
        Doc("bad/picture.png", b"\x89PNG\r\n", doc_id="bad-png"),
        Doc("bad/huge.txt", b"word " * 50_000, doc_id="bad-huge"),
        Doc("bad/options.txt", b"text", doc_id="bad-options", chunk_size=8),
        Doc("bad/checksum.txt", b"text", doc_id="bad-checksum", sha256=hashlib.sha256(b"other").hexdigest()),
        Doc("bad/last.txt", b"still ingested", doc_id="bad-last"),
    ]
    results = {r.doc_id: r for r in await ingest_stream(stub, docs)}
    assert len(results) == len(docs)
    assert results["bad-first"].outcome == results["bad-last"].outcome == ACCEPTED
    outcome = {doc_id: (r.outcome, code_name(r.error_status)) for doc_id, r in results.items()}
    assert outcome["bad-corrupt"] == outcome["bad-locked"] == (FAILED, "INVALID_ARGUMENT")
    assert "corrupt PDF" in results["bad-corrupt"].error_status.message
    assert "encrypted PDF" in results["bad-locked"].error_status.message
    assert outcome["bad-empty"] == (FAILED, "INVALID_ARGUMENT")
    assert "document 'bad/empty.txt' is empty" in results["bad-empty"].error_status.message
    assert outcome["bad-png"] == (FAILED, "INVALID_ARGUMENT")
    assert "bad/picture.png" in results["bad-png"].error_status.message
    assert outcome["bad-huge"] == (FAILED, "RESOURCE_EXHAUSTED")
    assert "200000" in results["bad-huge"].error_status.message
    assert outcome["bad-options"] == (FAILED, "INVALID_ARGUMENT")
    assert "chunking.chunk_size_tokens" in results["bad-options"].error_status.message
    assert outcome["bad-checksum"] == (FAILED, "INVALID_ARGUMENT")
    assert "sha256" in results["bad-checksum"].error_status.message
    # The deprecated DocumentError still says the same, for readers that predate error_status.
    assert all(
        (r.error.code, r.error.message) == (code_name(r.error_status), r.error_status.message)
        for r in results.values()
        if r.outcome == FAILED
    )

    for doc_id, reason in (
        ("bad-corrupt", "corrupt PDF"),
        ("bad-locked", "encrypted PDF"),
        ("bad-empty", "empty document"),
    ):
        status = await stub.GetDocumentStatus(ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id), metadata=AUTH)
        assert status.status.state == ingest_pb2.DOCUMENT_STATE_FAILED
        assert status.status.reason.startswith(reason)


async def test_upsert_rpc_fails_with_the_documents_error(server):
    settings, stub, reader = server
    cases = [
        (Doc("x/picture.png", b"\x89PNG", doc_id="u-png"), grpc.StatusCode.INVALID_ARGUMENT, "x/picture.png"),
        (Doc("x/huge.txt", b"a" * 200_001, doc_id="u-huge"), grpc.StatusCode.RESOURCE_EXHAUSTED, "over the limit"),
        (Doc("x/empty.md", b"", doc_id="u-empty"), grpc.StatusCode.INVALID_ARGUMENT, "document 'x/empty.md' is empty"),
        (Doc("", b"text"), grpc.StatusCode.INVALID_ARGUMENT, "header.doc_id"),
        (
            Doc("x/meta.txt", b"text", metadata={"blob": "m" * 20_000}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "header.metadata",
        ),
    ]
    for doc, code, fragment in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await upsert(stub, doc)
        assert info.value.code() == code and fragment in info.value.details()


async def test_malformed_stream_is_invalid_argument_naming_the_part(server):
    settings, stub, reader = server
    content_first = [ingest_pb2.IngestDocumentsRequest(content=b"orphan")]
    unfinished = stream_requests([Doc("s/a.txt", b"text", doc_id="unfinished")])[:-1]
    for requests, field in ((content_first, "content"), (unfinished, "end")):
        call = stub.IngestDocuments(iter(requests), metadata=AUTH, timeout=30)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            [response async for response in call]
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.details().startswith(f"{field}:")


async def test_calls_without_credentials_are_unauthenticated(server):
    settings, stub, reader = server
    # The server answers before reading any part; writing parts would race with that answer.
    call = stub.IngestDocuments(timeout=30)
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing credentials" in await call.details()
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetDocumentStatus(
            ingest_pb2.GetDocumentStatusRequest(doc_id="guide.md"), metadata=[("authorization", "Bearer wrong-key")]
        )
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_tenants_come_from_credentials_and_are_isolated(server):
    settings, stub, reader = server
    result = await upsert(stub, Doc("t/shared.txt", b"tenant a text", doc_id="shared-name"), metadata=AUTH_A)
    records = await reader.read_until(complete(["shared-name"]))
    assert {(key, e.tenant) for key, e, _ in records if e is not None and e.doc_id == "shared-name"} == {
        ("tenant-a/shared-name", "tenant-a")
    }
    assert all_chunks(events_for(records, "shared-name"))[0].chunk_id == chunk_id("tenant-a", "shared-name", 0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetDocumentStatus(ingest_pb2.GetDocumentStatusRequest(doc_id="shared-name"), metadata=AUTH_B)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListDocuments(ingest_pb2.ListDocumentsRequest(), metadata=AUTH_A)
    assert [d.doc_id for d in listed.documents] == ["shared-name"]
    assert listed.documents[0].version.sequence == result.version.sequence


async def test_list_documents_pages_in_doc_id_order_and_filters_by_state(server):
    settings, stub, reader = server
    docs = [Doc(f"l/{name}.txt", f"text of {name}".encode(), doc_id=f"list-{name}") for name in "dbeac"]
    await ingest_stream(stub, docs + [Doc("l/broken.pdf", b"%PDF-1.4 broken", doc_id="list-f")], metadata=AUTH_B)
    seen, token = [], ""
    while True:
        page = await stub.ListDocuments(ingest_pb2.ListDocumentsRequest(page_size=2, page_token=token), metadata=AUTH_B)
        assert len(page.documents) <= 2
        seen.extend(d.doc_id for d in page.documents)
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"list-{c}" for c in "abcdef"]
    failed = await stub.ListDocuments(
        ingest_pb2.ListDocumentsRequest(state=ingest_pb2.DOCUMENT_STATE_FAILED), metadata=AUTH_B
    )
    assert [(d.doc_id, d.reason.split(":")[0]) for d in failed.documents] == [("list-f", "corrupt PDF")]
    for request, field in (
        (ingest_pb2.ListDocumentsRequest(page_size=5000), "page_size"),
        (ingest_pb2.ListDocumentsRequest(page_token="%%%"), "page_token"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListDocuments(request, metadata=AUTH_B)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in info.value.details()


async def test_status_follows_indexed_events_and_ignores_stale_ones(server):
    settings, stub, reader = server
    old = await upsert(stub, Doc("st/doc.txt", PROSE.encode(), doc_id="status-doc", chunk_size=48))
    current = await upsert(stub, Doc("st/doc.txt", (PROSE + " changed").encode(), doc_id="status-doc", chunk_size=48))
    assert current.chunk_count > 1
    total = current.chunk_count
    await produce_indexed(
        settings,
        [
            indexed_event(
                "default", "status-doc", current.version, events_pb2.INDEX_OUTCOME_PARTIAL, indexed=1, total=total
            )
        ],
    )
    status = await wait_for_status(stub, "status-doc", lambda s: s.indexed_chunks == 1)
    assert (status.state, status.indexed_chunks) == (ingest_pb2.DOCUMENT_STATE_CHUNKED, 1)

    await produce_indexed(
        settings,
        [
            indexed_event(
                "default", "status-doc", current.version, events_pb2.INDEX_OUTCOME_INDEXED, indexed=total, total=total
            )
        ],
    )
    status = await wait_for_status(stub, "status-doc", lambda s: s.state == ingest_pb2.DOCUMENT_STATE_INDEXED)
    assert (status.state, status.indexed_chunks, status.version.sequence) == (
        ingest_pb2.DOCUMENT_STATE_INDEXED,
        total,
        current.version.sequence,
    )

    # Older versions, a duplicate and a late PARTIAL change nothing; a sentinel shows they were consumed.
    sentinel = await upsert(stub, Doc("st/sentinel.txt", b"sentinel", doc_id="status-sentinel"))
    await produce_indexed(
        settings,
        [
            indexed_event("default", "status-doc", old.version, events_pb2.INDEX_OUTCOME_FAILED, reason="old failure"),
            indexed_event("default", "status-doc", old.version, events_pb2.INDEX_OUTCOME_INDEXED, indexed=1, total=1),
            indexed_event(
                "default", "status-doc", current.version, events_pb2.INDEX_OUTCOME_INDEXED, indexed=total, total=total
            ),
            indexed_event(
                "default", "status-doc", current.version, events_pb2.INDEX_OUTCOME_PARTIAL, indexed=1, total=total
            ),
            indexed_event("default", "status-doc", current.version, events_pb2.INDEX_OUTCOME_STALE),
            indexed_event(
                "default", "status-sentinel", sentinel.version, events_pb2.INDEX_OUTCOME_INDEXED, indexed=1, total=1
            ),
        ],
    )
    await wait_for_status(stub, "status-sentinel", lambda s: s.state == ingest_pb2.DOCUMENT_STATE_INDEXED)
    status = await wait_for_status(stub, "status-doc", lambda s: True)
    assert (status.state, status.indexed_chunks, status.version.sequence, status.reason) == (
        ingest_pb2.DOCUMENT_STATE_INDEXED,
        total,
        current.version.sequence,
        "",
    )

    await produce_indexed(
        settings,
        [
            indexed_event(
                "default",
                "status-doc",
                current.version,
                events_pb2.INDEX_OUTCOME_FAILED,
                reason="vector store rejected the batch",
            )
        ],
    )
    status = await wait_for_status(stub, "status-doc", lambda s: s.state == ingest_pb2.DOCUMENT_STATE_FAILED)
    assert status.reason == "vector store rejected the batch"


async def test_poison_records_on_the_indexed_topic_go_to_the_dlq_and_the_consumer_goes_on(server, kafka_bootstrap):
    settings, stub, reader = server
    target = await upsert(stub, Doc("p/doc.txt", b"poison test", doc_id="after-poison"))
    from ragplane.runtime.kafka import EventProducer

    producer = EventProducer(settings, "test-poison")
    try:
        headers = [("ragplane-schema", b"ragplane.v1.IndexedEvent")]
        producer.send_raw(settings.indexed_topic, b"default/x", b"\xff\xff\xffnot protobuf", headers)
        producer.send(
            settings.indexed_topic,
            "default/",
            indexed_event("default", "", target.version, events_pb2.INDEX_OUTCOME_INDEXED),
        )
    finally:
        producer.close()
    await produce_indexed(
        settings,
        [
            indexed_event(
                "default", "after-poison", target.version, events_pb2.INDEX_OUTCOME_INDEXED, indexed=1, total=1
            )
        ],
    )
    status = await wait_for_status(stub, "after-poison", lambda s: s.state == ingest_pb2.DOCUMENT_STATE_INDEXED)
    assert status.state == ingest_pb2.DOCUMENT_STATE_INDEXED
    dlq = TopicReader(kafka_bootstrap, dlq_topic(settings.indexed_topic), message_type=events_pb2.IndexedEvent)
    try:
        # The module's delete test left a purge marker there too (DeleteDocument writes one into each DLQ).
        def dead(rs):
            return [r for r in rs if "ragplane-purge" not in dict(r.headers)]

        records = dead(await dlq.read_until(lambda rs: len(dead(rs)) >= 2))
    finally:
        dlq.close()
    errors = [dict(headers).get("ragplane-error", b"").decode() for _, _, headers in records]
    assert any("cannot decode" in e for e in errors) and any("without doc_id" in e for e in errors)
