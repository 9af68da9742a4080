"""A ~1 MB hostile document scan does not stall the guardrail for anyone else (review finding F2).

Each chunk is one 100,000-character word run (digits, "_", Cyrillic): the tokenizer sees one [UNK] token, so
ingest sends it whole. The quadratic normaliser spent minutes per chunk with the GIL held, so health checks
and every tenant's CheckInput hit their deadlines. Deadlines here are generous (5 s) for a loaded machine.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.servers import serve

from ragplane.v1 import common_pb2, guardrail_pb2, guardrail_pb2_grpc

from .conftest import TENANT_A, TENANT_B

# The timeout: the quadratic normaliser held the GIL, so not even the client's own deadlines fired.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(120),
]

RUNS = ("1", "_", "ж", "7$")
CHUNK_CHARS = 99_980  # just under the default document policy's max_chars, so every detector runs
CHUNKS = 10


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(loaded_app, guardrail_settings):
    async with serve(loaded_app, guardrail_settings) as served:
        yield served


def _hostile_document() -> guardrail_pb2.ScanDocumentRequest:
    chunks = []
    for index in range(CHUNKS):
        run = RUNS[index % len(RUNS)]
        text = f"# part {index}\n" + run * (CHUNK_CHARS // len(run))
        chunks.append(
            common_pb2.Chunk(
                chunk_id=f"c{index}", text=text, provenance=common_pb2.Provenance(doc_id="huge", chunk_index=index)
            )
        )
    return guardrail_pb2.ScanDocumentRequest(doc_id="huge", chunks=chunks)


async def test_health_and_another_tenants_check_input_answer_while_a_1mb_document_is_scanned(running):
    guardrail = running.stub(guardrail_pb2_grpc.GuardrailServiceStub)
    health = health_pb2_grpc.HealthStub(running.channel)
    request = _hostile_document()
    assert request.ByteSize() > 1_000_000 - 1000
    scan = asyncio.ensure_future(guardrail.ScanDocument(request, metadata=TENANT_A, timeout=300))
    await asyncio.sleep(0.5)  # the scan is now running in the worker pool
    started = time.perf_counter()
    status = await health.Check(health_pb2.HealthCheckRequest(service="ragplane.v1.GuardrailService"), timeout=5)
    reply = await guardrail.CheckInput(
        guardrail_pb2.CheckInputRequest(text="What is the refund policy for annual plans?"),
        metadata=TENANT_B,
        timeout=5,
    )
    waited = time.perf_counter() - started
    # Answered between two chunks, not queued behind the whole document.
    assert not scan.done(), f"CheckInput answered only after the whole scan ({waited:.1f} s)"
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    assert reply.verdict.action == common_pb2.GuardrailAction.GUARDRAIL_ACTION_ALLOW
    verdicts = (await scan).verdicts
    assert [v.chunk_index for v in verdicts] == list(range(CHUNKS))
