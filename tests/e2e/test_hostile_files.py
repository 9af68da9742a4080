"""Hostile files against the whole local stack: each upload is refused with INVALID_ARGUMENT naming the file, and
its document reports FAILED with the reason, in bounded time and memory, while health checks on ingest and
guardrail and another tenant's Ask keep succeeding; afterwards a normal document is ingested and answered."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from dataclasses import dataclass, field

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.ingest_docgen import make_docx, raw_pdf

from ragplane.v1 import ingest_pb2, ingest_pb2_grpc, rag_pb2, rag_pb2_grpc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Every refusal took well under a second on a laptop; a loaded 2-core runner gets generous room.
UPLOAD_BUDGET_S = 120
HEALTH_DEADLINE_S = 5
ASK_DEADLINE_S = 300
# The ingest process may grow by this much while refusing the corpus (the zip bomb alone would add 200 MB).
MEMORY_BUDGET_KIB = 150 * 1024
MAX_ROUNDS = 30
ORCHARD = (
    "Velmora orchard notes\n\nThe Velmora apple orchard grows eleven varieties of apple. The oldest tree was "
    "planted in 1893 by Tomas Reyes.\n"
)
OBSERVATORY = (
    "# Brindlewick observatory\n\nThe Brindlewick observatory was founded by Ada Quispe in 1911. Its brass "
    "telescope has a mirror of ninety centimetres.\n"
)


def zip_bomb_docx() -> bytes:
    """A real DOCX with one extra member that inflates 200 MB of zeros from about 200 kB."""
    buffer = io.BytesIO(make_docx([("p", "A harmless looking paragraph.")]))
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/image1.bin", bytes(200 * 1024 * 1024))
    return buffer.getvalue()


def hostile_corpus() -> dict[str, tuple[bytes, str, str]]:
    """source -> (bytes, content type, what the refusal says)."""
    docx = make_docx([("heading1", "Truncated"), ("p", "This document loses its end. " * 50)])
    pdf = raw_pdf(["This PDF loses its cross reference table."] * 3)
    return {
        "hostile/bomb.docx": (zip_bomb_docx(), "", "RAGPLANE_INGEST_MAX_ZIP_RATIO"),
        "hostile/nested.html": (b"<div>" * 100_000 + b"x", "", "nested deeper"),
        "hostile/word.txt": (b"intro " + b"w" * 500_000 + b" outro", "", "RAGPLANE_INGEST_MAX_WORD_CHARS"),
        "hostile/pages.pdf": (raw_pdf([f"Page {n} of a long report." for n in range(5000)]), "", "pages"),
        "hostile/invalid-utf8.txt": (b"caf\xc3 \xff\xfe\xfd broken " * 1000, "text/plain; charset=utf-8", "utf-8"),
        "hostile/nul.txt": (b"text\x00with\x00nul" * 1000, "", "NUL"),
        "hostile/empty.md": (b"", "", "empty"),
        "hostile/truncated.docx": (docx[: len(docx) // 2], "", "DOCX"),
        "hostile/truncated.pdf": (pdf[: len(pdf) // 2], "", "PDF"),
    }


@dataclass
class Watch:
    """What the background loops saw while the hostile files were uploaded."""

    stop: threading.Event = field(default_factory=threading.Event)
    health_checks: int = 0
    health_failures: list[str] = field(default_factory=list)
    answers: int = 0
    ask_failures: list[str] = field(default_factory=list)


def health_loop(stack, watch: Watch) -> None:
    channels = {name: stack.channel(name) for name in ("ingest", "guardrail")}
    try:
        while not watch.stop.is_set():
            for name, channel in channels.items():
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=HEALTH_DEADLINE_S
                    )
                    if reply.status != health_pb2.HealthCheckResponse.SERVING:
                        watch.health_failures.append(f"{name}: {reply.status}")
                except grpc.RpcError as exc:
                    watch.health_failures.append(f"{name}: {exc.code().name}")
                watch.health_checks += 1
            time.sleep(0.2)
    finally:
        for channel in channels.values():
            channel.close()


def ask_loop(stack, watch: Watch) -> None:
    """Tenant B's questions, cache bypassed so each one runs the whole pipeline, until stopped (at least one)."""
    with stack.channel("orchestrator") as channel:
        stub = rag_pb2_grpc.RagServiceStub(channel)
        while not watch.stop.is_set() or watch.answers == 0:
            request = rag_pb2.AskRequest(
                query="Who planted the oldest tree in the Velmora orchard?",
                options=rag_pb2.AskOptions(bypass_cache=True),
            )
            try:
                result = stub.Ask(request, metadata=stack.metadata("tenant-b"), timeout=ASK_DEADLINE_S).result
            except grpc.RpcError as exc:
                watch.ask_failures.append(f"{exc.code().name}: {exc.details()}")
                if len(watch.ask_failures) > 3:
                    return
                continue
            if result.blocked or "hostile-orchard.txt" not in {c.doc_id for c in result.citations}:
                watch.ask_failures.append(f"answered without the orchard: {result.answer!r}")
            watch.answers += 1


def upsert(stub, source: str, data: bytes, content_type: str = "", tenant_metadata=()) -> ingest_pb2.DocumentResult:
    header = ingest_pb2.DocumentHeader(doc_id=source, source=source, content_type=content_type)
    request = ingest_pb2.UpsertDocumentRequest(header=header, content=data)
    return stub.UpsertDocument(request, metadata=tenant_metadata, timeout=UPLOAD_BUDGET_S).result


def wait_indexed(stub, doc_id: str, metadata, timeout_s: float = 600) -> ingest_pb2.DocumentStatus:
    deadline = time.monotonic() + timeout_s
    while True:
        status = stub.GetDocumentStatus(
            ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id), metadata=metadata, timeout=30
        ).status
        if status.state in (ingest_pb2.DOCUMENT_STATE_INDEXED, ingest_pb2.DOCUMENT_STATE_FAILED):
            return status
        assert time.monotonic() < deadline, f"{doc_id} still {ingest_pb2.DocumentState.Name(status.state)}"
        time.sleep(0.5)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def refuse_each(stub, corpus, metadata) -> dict[str, str]:
    """Upload every hostile file; the problems found (empty when each was refused as promised)."""
    problems = {}
    for source, (data, content_type, says) in corpus.items():
        started = time.monotonic()
        try:
            result = upsert(stub, source, data, content_type, metadata)
            problems[source] = f"accepted: {ingest_pb2.IngestOutcome.Name(result.outcome)}"
            continue
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
        took = time.monotonic() - started
        if code != grpc.StatusCode.INVALID_ARGUMENT or source not in details or says.lower() not in details.lower():
            problems[source] = f"{code.name} after {took:.1f} s: {details}"
            continue
        status = stub.GetDocumentStatus(
            ingest_pb2.GetDocumentStatusRequest(doc_id=source), metadata=metadata, timeout=30
        ).status
        if status.state != ingest_pb2.DOCUMENT_STATE_FAILED or not status.reason:
            problems[source] = f"status {ingest_pb2.DocumentState.Name(status.state)} reason {status.reason!r}"
    return problems


def test_hostile_files_are_refused_while_health_and_another_tenants_ask_succeed(stack):
    with stack.channel("ingest") as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        tenant_b = stack.metadata("tenant-b")
        upsert(stub, "hostile-orchard.txt", ORCHARD.encode(), tenant_metadata=tenant_b)
        assert wait_indexed(stub, "hostile-orchard.txt", tenant_b).state == ingest_pb2.DOCUMENT_STATE_INDEXED

        ingest_pid = stack.pids["ingest"]
        before = memory_kib(ingest_pid)
        watch = Watch()
        loops = [threading.Thread(target=loop, args=(stack, watch), daemon=True) for loop in (health_loop, ask_loop)]
        for thread in loops:
            thread.start()
        # Rounds of the corpus until tenant B has had an answer, so its Ask runs while the files are refused.
        corpus, problems, rounds, slowest_s = hostile_corpus(), {}, 0, 0.0
        while not problems and rounds < MAX_ROUNDS and (rounds == 0 or watch.answers == 0):
            started = time.monotonic()
            problems = refuse_each(stub, corpus, stack.metadata("tenant-a"))
            slowest_s, rounds = max(slowest_s, time.monotonic() - started), rounds + 1
        watch.stop.set()
        for thread in loops:
            thread.join(ASK_DEADLINE_S + 30)
        after = memory_kib(ingest_pid)

        assert problems == {}
        assert slowest_s < UPLOAD_BUDGET_S * 2, f"a round of the corpus took {slowest_s:.0f} s"
        assert watch.health_checks > 0 and watch.health_failures == [], watch.health_failures
        assert watch.answers >= 1 and watch.ask_failures == [], watch.ask_failures
        assert after["VmHWM"] - before["VmHWM"] < MEMORY_BUDGET_KIB, (before, after)
        assert after["VmRSS"] - before["VmRSS"] < MEMORY_BUDGET_KIB, (before, after)

        # The service is still fully usable: a normal document is ingested and answered.
        tenant_a = stack.metadata("tenant-a")
        upsert(stub, "hostile-after/observatory.md", OBSERVATORY.encode(), tenant_metadata=tenant_a)
        assert wait_indexed(stub, "hostile-after/observatory.md", tenant_a).state == ingest_pb2.DOCUMENT_STATE_INDEXED
    with stack.channel("orchestrator") as channel:
        result = (
            rag_pb2_grpc.RagServiceStub(channel)
            .Ask(
                rag_pb2.AskRequest(query="Who founded the Brindlewick observatory?"),
                metadata=tenant_a,
                timeout=ASK_DEADLINE_S,
            )
            .result
        )
    assert "hostile-after/observatory.md" in {c.doc_id for c in result.citations}, (result.answer, result.citations)
    assert "Quispe" in result.answer
