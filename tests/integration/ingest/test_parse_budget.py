"""Parsing under a time and memory budget on a real ingest server with one parser worker: a PDF with thousands
of pages, an HTML tree over the memory budget and a PDF that takes minutes to parse are each refused with
INVALID_ARGUMENT naming the file in bounded time, health checks keep answering meanwhile, and a normal document
right after is accepted (the worker that overran was replaced)."""

from __future__ import annotations

import asyncio
import time
import zlib

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.ingest import Doc, ingest_stream, make_settings, running_ingest
from support.ingest_docgen import raw_pdf

from ragplane.v1 import ingest_pb2, ingest_pb2_grpc

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ACCEPTED = ingest_pb2.INGEST_OUTCOME_ACCEPTED
FAILED = ingest_pb2.INGEST_OUTCOME_FAILED
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


def slow_pdf(pages: int) -> bytes:
    """A PDF whose pages each hold a small Flate stream that decodes to 230 kB of text operators: pypdf takes
    about 0.3 s per page (its text extraction is superlinear in a stream: two minutes on one page of 10 MB)."""
    operators = b"BT /F1 8 Tf 5 5 Td " + b"(word word word) Tj T* " * 10_000 + b"ET"
    stream = zlib.compress(operators, 9)
    placeholder = b"BT /F1 11 Tf 14 TL 72 740 Td (placeholder) Tj ET"
    plain = b"<< /Length %d >>\nstream\n" % len(placeholder) + placeholder
    compressed = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
    # pypdf rebuilds the cross-reference table when the offsets no longer match.
    return raw_pdf(["placeholder"] * pages).replace(plain, compressed)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(kafka_bootstrap, redis_url):
    settings = make_settings(
        kafka_bootstrap,
        redis_url,
        max_document_bytes=5_000_000,
        parse_workers=1,
        parse_timeout_s=8.0,
        parse_memory_mb=64,
        max_pdf_pages=1000,
    )
    async with running_ingest(settings) as running:
        yield running


async def health_failures_while(task: asyncio.Task, channel: grpc.aio.Channel) -> tuple[int, list[str]]:
    """Health checks with a 1 s deadline every 0.1 s until ``task`` is done: how many ran, which failed."""
    stub = health_pb2_grpc.HealthStub(channel)
    checks, failures = 0, []
    while not task.done():
        checks += 1
        try:
            await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        except grpc.aio.AioRpcError as exc:
            failures.append(exc.code().name)
        await asyncio.sleep(0.1)
    return checks, failures


async def test_over_budget_documents_are_refused_naming_the_file_and_the_next_one_is_accepted(served):
    stub = served.stub(ingest_pb2_grpc.IngestServiceStub)
    docs = [
        Doc("budget/book.pdf", raw_pdf([f"page {n}" for n in range(5000)])),
        Doc("budget/tree.html", b"<html><body>" + b"<p>x</p>" * 400_000 + b"</body></html>"),
        Doc("budget/slow.pdf", slow_pdf(200)),
        Doc("budget/normal.txt", b"A normal document after the hostile ones.\n" * 20),
    ]
    started = time.monotonic()
    upload = asyncio.ensure_future(ingest_stream(stub, docs))
    checks, failures = await health_failures_while(upload, served.channel)
    results = {r.source: r for r in await upload}
    assert time.monotonic() - started < 60
    assert failures == [] and checks > 0
    expected = {
        "budget/book.pdf": "has 5000 pages, over the limit of 1000 (RAGPLANE_INGEST_MAX_PDF_PAGES)",
        "budget/tree.html": "parsing exceeded 64 MiB (RAGPLANE_INGEST_PARSE_MEMORY_MB)",
        "budget/slow.pdf": "parsing exceeded 8 s (RAGPLANE_INGEST_PARSE_TIMEOUT_S)",
    }
    for source, reason in expected.items():
        result = results[source]
        assert (result.outcome, result.error_status.code) == (FAILED, INVALID_ARGUMENT), source
        assert source in result.error_status.message and reason in result.error_status.message
    assert results["budget/normal.txt"].outcome == ACCEPTED
