"""Hostile uploads to a real ingest server: each is answered (accepted or refused naming what is wrong) in
bounded time, while health checks keep answering within their 1 s deadline; an oversized title is refused
before any chunk is built."""

from __future__ import annotations

import asyncio
import resource
import time

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.ingest import Doc, ingest_stream, make_settings, running_ingest, upsert

from ragplane.v1 import ingest_pb2, ingest_pb2_grpc

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

FAILED = ingest_pb2.INGEST_OUTCOME_FAILED

HOSTILE = [
    Doc("hostile/spaces.txt", b"a" + b" " * 600_000 + b"b"),
    Doc("hostile/digits.txt", b" ".join([b"7" * 90_000] * 3)),
    Doc("hostile/newlines.txt", b"a" + b"\n" * 300_000 + b"b"),
    Doc("hostile/nested.html", b"<div>" * 100_000 + b"x"),
    Doc("hostile/heading.md", b"#" + b" " * 300_000 + b"x\n" + b"# " + b"[" * 300_000),
    Doc("hostile/emphasis.md", (b"###### " + b"**[" * 200 + b"](" * 200 + b" #\n") * 400 + b"*_" * 100_000),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(kafka_bootstrap, redis_url):
    settings = make_settings(
        kafka_bootstrap, redis_url, max_document_bytes=2_000_000, chunk_size_tokens=32, chunk_overlap_tokens=8
    )
    async with running_ingest(settings) as running:
        yield running


async def health_while(task: asyncio.Task, channel: grpc.aio.Channel) -> list[str]:
    """Health checks with a 1 s deadline every 0.2 s until ``task`` is done; the failures."""
    stub = health_pb2_grpc.HealthStub(channel)
    failures = []
    while not task.done():
        try:
            await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        except grpc.aio.AioRpcError as exc:
            failures.append(exc.code().name)
        await asyncio.sleep(0.2)
    return failures


async def test_hostile_documents_are_answered_quickly_while_health_checks_succeed(served):
    stub = served.stub(ingest_pb2_grpc.IngestServiceStub)
    started = time.monotonic()
    upload = asyncio.ensure_future(ingest_stream(stub, HOSTILE))
    failures = await health_while(upload, served.channel)
    results = await upload
    assert time.monotonic() - started < 90
    assert failures == []
    assert [r.source for r in results] == [d.source for d in HOSTILE]
    refused = {r.source: r.error_status.message for r in results if r.outcome == FAILED}
    assert all(r.outcome != FAILED or r.error_status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] for r in results)
    assert "RAGPLANE_INGEST_MAX_WORD_CHARS" in refused["hostile/digits.txt"]
    assert "nested deeper" in refused["hostile/nested.html"]


async def test_five_megabyte_title_is_invalid_argument_naming_header_title_with_bounded_memory(served):
    stub = served.stub(ingest_pb2_grpc.IngestServiceStub)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upsert(stub, Doc("t/title.txt", b"word " * 2_000, title="x" * 5_000_000, chunk_size=32))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("header.title: must be at most 1024 characters, but got 5000000")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 200 * 1024
