"""``Client`` and ``AsyncClient`` against the real ingest service: streamed uploads of folders, files and bytes
with progress, waiting for indexing, document status, pages and deletes, and the errors a caller sees."""

from __future__ import annotations

import pytest
from support.clients import FLAVORS, call
from support.ingest_docgen import make_pdf

from ragplane.client import (
    AuthenticationError,
    Connection,
    Document,
    DocumentState,
    IngestOutcome,
    NotFoundError,
)

pytestmark = pytest.mark.integration


@pytest.fixture(params=FLAVORS)
def flavor(request) -> str:
    return request.param


def _connection(server, key: str = "key-a", timeout: float = 60.0) -> Connection:
    return Connection(ingest_address=server.address, api_key=key, timeout=timeout)


def _folder(root) -> None:
    files = {
        "guide.md": "# Guide\n\nHow to run the platform.\n",
        "sub/deep.md": "# Deep\n\nA page further down.\n",
        "notes.txt": "Plain notes, not matched by the glob.",
        ".hidden/secret.md": "# never sent",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


async def test_a_folder_glob_and_bytes_are_streamed_with_progress_and_waited_for(flavor, ingest_server, tmp_path):
    _folder(tmp_path / "docs")
    events = []
    memo = Document("memo", b"# Memo\n\nKept in memory, sent as bytes.", source="memo.md", metadata={"lang": "en"})
    result = await call(
        flavor,
        _connection(ingest_server),
        "ingest",
        tmp_path / "docs",
        memo,
        glob="**/*.md",
        wait=True,
        timeout=120,
        progress=events.append,
    )
    assert [d.doc_id for d in result.documents] == ["guide.md", "sub/deep.md", "memo"]
    assert {d.outcome for d in result.documents} == {IngestOutcome.ACCEPTED}
    assert {d.state for d in result.documents} == {DocumentState.INDEXED}
    assert all(d.chunks >= 1 and d.sequence >= 1 and d.content_hash for d in result.documents)
    assert result.waited and not result.timed_out and not result.failed
    uploaded = [e.document.doc_id for e in events if e.phase == "upload" and e.document]
    indexed = [e.document.doc_id for e in events if e.phase == "index" and e.document]
    assert sorted(uploaded) == sorted(indexed) == ["guide.md", "memo", "sub/deep.md"]
    last_upload = [e for e in events if e.phase == "upload"][-1]
    assert last_upload.bytes_sent == last_upload.bytes_total > 0 and last_upload.done == last_upload.total == 3

    again = await call(flavor, _connection(ingest_server), "ingest", tmp_path / "docs" / "guide.md")
    assert again["guide.md"].outcome == IngestOutcome.UNCHANGED and not again.waited


async def test_a_bad_document_fails_alone_with_its_code_and_a_refused_key_raises(flavor, ingest_server, tmp_path):
    good = Document("good", b"Good text.", source="good.txt")
    broken = Document("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", source="broken.pdf")
    result = await call(flavor, _connection(ingest_server), "ingest", good, broken)
    assert result["good"].outcome == IngestOutcome.ACCEPTED
    assert result["broken.pdf"].outcome == IngestOutcome.FAILED and result.failed == [result["broken.pdf"]]
    assert result["broken.pdf"].error.code == "INVALID_ARGUMENT" and "corrupt PDF" in result["broken.pdf"].error.message

    with pytest.raises(AuthenticationError) as refused:
        await call(flavor, _connection(ingest_server, key="no-such-key"), "ingest", good)
    assert refused.value.code.name == "UNAUTHENTICATED"


async def test_status_pages_and_delete_of_the_callers_documents(flavor, ingest_server):
    docs = [Document(f"doc-{i}", f"Document number {i}.".encode(), source=f"doc-{i}.txt") for i in range(3)]
    pdf = Document("paper", make_pdf(["Page one.", "Page two."]), source="paper.pdf")
    connection = _connection(ingest_server)
    await call(flavor, connection, "ingest", *docs, pdf, wait=True, timeout=120)

    status = await call(flavor, connection, "get_document", "paper")
    assert (status.state, status.source, status.chunks) == (DocumentState.INDEXED, "paper.pdf", 2)
    assert status.indexed_chunks == 2 and status.updated_at is not None

    first = await call(flavor, connection, "list_documents", page_size=3)
    assert len(first.documents) == 3 and first.next_page_token
    second = await call(flavor, connection, "list_documents", page_size=3, page_token=first.next_page_token)
    assert len(second.documents) == 1 and not second.next_page_token
    every = await call(flavor, connection, "iter_documents", page_size=2, state="INDEXED")
    assert sorted(d.doc_id for d in every) == ["doc-0", "doc-1", "doc-2", "paper"]
    # Another tenant sees none of them.
    assert (await call(flavor, _connection(ingest_server, key="key-b"), "list_documents")).documents == []

    deleted = await call(flavor, connection, "delete_document", "doc-0")
    assert deleted.doc_id == "doc-0" and deleted.sequence > 0
    after = await call(flavor, connection, "get_document", "doc-0")
    assert after.state in (DocumentState.DELETING, DocumentState.DELETED)
    with pytest.raises(NotFoundError):
        await call(flavor, connection, "get_document", "never-ingested")


async def test_a_wait_whose_deadline_passes_returns_the_pending_documents(flavor, ingest_without_indexing):
    doc = Document("stuck", b"Nothing indexes this one.", source="stuck.txt")
    result = await call(flavor, _connection(ingest_without_indexing), "ingest", doc, wait=True, timeout=2.0)
    assert result.timed_out and result["stuck"].pending
    assert result["stuck"].state in (DocumentState.QUEUED, DocumentState.CHUNKED)


async def test_missing_paths_are_refused_before_any_call(flavor, tmp_path):
    unreachable = Connection(ingest_address="127.0.0.1:1", api_key="key-a")
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        await call(flavor, unreachable, "ingest", tmp_path / "nope")


async def test_documents_ingested_without_waiting_can_be_waited_for_later(flavor, ingest_server):
    connection = _connection(ingest_server)
    result = await call(flavor, connection, "ingest", Document("later", b"Indexed later.", source="later.txt"))
    assert result["later"].state == "" and result["later"].outcome == IngestOutcome.ACCEPTED
    assert await call(flavor, connection, "wait_for_documents", result.documents, timeout=60) is True
    assert result["later"].state == DocumentState.INDEXED and not result["later"].pending
