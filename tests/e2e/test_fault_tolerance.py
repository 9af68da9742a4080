"""Crash safety of the ingest pipeline: kill -9 the embed worker and the index writer in the middle of a
1,000-chunk ingest, restart them, and find exactly the expected chunks in the index (none missing, none
duplicated)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ragplane.cli import infra
from ragplane.v1 import ingest_pb2, ingest_pb2_grpc, retrieve_pb2, retrieve_pb2_grpc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TENANT = "tenant-b"
DOCUMENTS = 40
CHUNK_TOKENS = 64
WORDS = (
    "harbour lantern copper orchard ferry reactor meadow granite willow falcon quarry beacon canal "
    "meridian thistle cobalt saffron glacier ember lattice"
).split()


def _document(index: int, rng: random.Random) -> str:
    paragraphs = []
    for p in range(10):
        sentences = []
        for s in range(6):
            words = " ".join(rng.choice(WORDS) for _ in range(10))
            sentences.append(f"Record {index}-{p}-{s} notes {words}.")
        paragraphs.append(" ".join(sentences))
    return f"# Ledger {index}\n\n" + "\n\n".join(paragraphs) + "\n"


def _pid_of(stack, name: str) -> int:
    state = json.loads((stack.home / "run" / "stack.json").read_text())
    return next(item["pid"] for item in state if item["name"] == name)


def _indexed_chunks(stack) -> int:
    try:
        with stack.channel("retrieve") as channel:
            return (
                retrieve_pb2_grpc.RetrieveServiceStub(channel)
                .GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=stack.metadata(TENANT), timeout=10)
                .chunk_count
            )
    except Exception:  # noqa: BLE001 - the service may be down right now
        return -1


def test_kill_9_of_embed_and_index_writer_mid_ingest_loses_and_duplicates_nothing(stack, tmp_path):
    rng = random.Random(7)
    folder = tmp_path / "ledgers"
    folder.mkdir()
    for index in range(DOCUMENTS):
        (folder / f"ledger-{index:03d}.md").write_text(_document(index, rng))
    env = dict(stack.env, RAGPLANE_API_KEY="e2e-key-b")
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ragplane.cli.main",
            "ingest",
            str(folder),
            "--wait",
            "--timeout",
            "900",
            "--json",
            "--chunk-size",
            str(CHUNK_TOKENS),
            "--chunk-overlap",
            "8",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while _indexed_chunks(stack) < 100:
            assert time.monotonic() < deadline and ingest.poll() is None, "indexing never started"
            time.sleep(0.2)
        for name in ("embed", "retrieve"):
            pid = _pid_of(stack, name)
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while infra.pid_alive(pid):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        killed_at = _indexed_chunks(stack)
        assert killed_at == -1  # the index writer is down
        for name in ("embed", "retrieve"):
            subprocess.run(
                [sys.executable, "-m", "ragplane.cli.main", "restart", name],
                env=stack.env,
                check=True,
                capture_output=True,
                timeout=600,
            )
        stdout, stderr = ingest.communicate(timeout=900)
    finally:
        if ingest.poll() is None:
            ingest.kill()
    assert ingest.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["summary"]["indexed"] == DOCUMENTS and report["summary"]["failed"] == 0
    expected = {doc["doc_id"]: doc["chunks"] for doc in report["documents"]}
    assert sum(expected.values()) >= 1000
    seen_ids: set[str] = set()
    with stack.channel("retrieve") as channel, stack.channel("ingest") as ingest_channel:
        stub = retrieve_pb2_grpc.RetrieveServiceStub(channel)
        ingest_stub = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
        for doc_id, count in expected.items():
            chunks = stub.ListChunks(
                retrieve_pb2.ListChunksRequest(doc_id=doc_id), metadata=stack.metadata(TENANT), timeout=30
            ).chunks
            assert [c.provenance.chunk_index for c in chunks] == list(range(count)), doc_id
            seen_ids.update(c.chunk_id for c in chunks)
            status = ingest_stub.GetDocumentStatus(
                ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id), metadata=stack.metadata(TENANT), timeout=30
            ).status
            assert status.state == ingest_pb2.DOCUMENT_STATE_INDEXED and status.chunk_count == count
        stats = stub.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=stack.metadata(TENANT), timeout=30)
    assert len(seen_ids) == sum(expected.values())
    assert stats.chunk_count == sum(expected.values())
