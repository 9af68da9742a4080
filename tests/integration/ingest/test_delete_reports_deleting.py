"""A deleted document reports DELETING until the index confirms the deletion, then DELETED.

The ingest service runs on a real broker and Redis; the test plays the index writer: it reads the DELETE event
from the chunks topic and answers with the IndexedEvent the writer sends once the chunks are gone.
"""

from __future__ import annotations

import pytest
import pytest_asyncio
from support.ingest import (
    AUTH,
    Doc,
    complete,
    events_for,
    indexed_event,
    ingest_with_chunks_reader,
    produce_indexed,
    upsert,
    wait_for_status,
)

from ragplane.v1 import events_pb2, ingest_pb2

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DELETING = ingest_pb2.DOCUMENT_STATE_DELETING
DELETED = ingest_pb2.DOCUMENT_STATE_DELETED


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(kafka_bootstrap, redis_url):
    async with ingest_with_chunks_reader(kafka_bootstrap, redis_url) as serving:
        yield serving


async def status_of(stub, doc_id: str) -> ingest_pb2.DocumentStatus:
    reply = await stub.GetDocumentStatus(ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id), metadata=AUTH)
    return reply.status


async def delete_and_read_event(stub, reader, doc_id: str) -> events_pb2.ChunksEvent:
    await stub.DeleteDocument(ingest_pb2.DeleteDocumentRequest(doc_id=doc_id), metadata=AUTH)
    records = await reader.read_until(lambda rs: bool(events_for(rs, doc_id)))
    [event] = events_for(records, doc_id)
    assert event.operation == events_pb2.DOCUMENT_OPERATION_DELETE
    return event


async def test_a_deleted_document_is_deleting_until_the_index_confirms(server):
    settings, stub, reader = server
    created = await upsert(stub, Doc("del/a.txt", b"text that will be deleted", doc_id="del-a"))
    await reader.read_until(complete(["del-a"]))
    event = await delete_and_read_event(stub, reader, "del-a")

    pending = await status_of(stub, "del-a")
    assert pending.state == DELETING and pending.version.sequence == event.version.sequence
    listed = await stub.ListDocuments(ingest_pb2.ListDocumentsRequest(state=DELETING), metadata=AUTH)
    assert [d.doc_id for d in listed.documents] == ["del-a"]
    # A late report about the version before the deletion changes nothing.
    late = indexed_event("default", "del-a", created.version, events_pb2.INDEX_OUTCOME_INDEXED, indexed=1, total=1)
    await produce_indexed(settings, [late])
    again = await stub.DeleteDocument(ingest_pb2.DeleteDocumentRequest(doc_id="del-a"), metadata=AUTH)
    assert again.version.sequence == event.version.sequence, "a repeated delete while DELETING made a new version"

    await produce_indexed(
        settings, [indexed_event("default", "del-a", event.version, events_pb2.INDEX_OUTCOME_DELETED)]
    )
    done = await wait_for_status(stub, "del-a", lambda s: s.state == DELETED)
    assert done.state == DELETED and done.version.sequence == event.version.sequence


async def test_a_document_whose_deletion_is_not_indexed_never_reports_deleted(server):
    settings, stub, reader = server
    await upsert(stub, Doc("del/b.txt", b"the index writer never answers", doc_id="del-b"))
    await reader.read_until(complete(["del-b"]))
    await delete_and_read_event(stub, reader, "del-b")
    status = await wait_for_status(stub, "del-b", lambda s: s.state != DELETING, timeout_s=2)
    assert status.state == DELETING
