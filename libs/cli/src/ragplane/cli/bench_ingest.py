"""``ragplane bench ingest``: end-to-end ingest throughput through Kafka against the raw embedder's throughput.

One run, one machine: first the embedder alone (the same models and windowing the embed workers use, no Kafka,
no gRPC) embeds the SQuAD v1.1 dev passages; then a private local stack is started on free ports and the same
passages are ingested through the whole pipeline (ingest: parse, chunk, guardrail scan -> Kafka -> embed
workers -> Kafka -> index writer -> embedded Qdrant). The figure is the ratio of the two throughputs. Peak
memory (VmHWM) of every process of the stack is read at the end, and the CPU time each process spent while the
passages went through, next to the raw embedder's: on a machine where every service shares the same cores, the
pipeline's throughput is bounded by the CPU time all its stages need per chunk, not by the embedder's alone.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

from ragplane.cli.cmd_bench import load_dataset, service_module
from ragplane.cli.output import console
from ragplane.runtime.bench import BenchResult

HELP = "end-to-end ingest throughput vs the raw embedder"
THROUGHPUT_COLUMNS = ["documents", "chunks", "seconds", "documents_per_s", "chunks_per_s"]
CPU_COLUMNS = ["cpu_s", "cpu_ms_per_chunk", "peak_rss_mb"]
TENANT_KEY = "bench-ingest-key"
TENANT = "bench-ingest"


def _passages(limit: int, seed: int) -> list[tuple[str, str]]:
    dataset = load_dataset()
    documents = [(doc.doc_id, doc.text) for doc in dataset.corpus]
    if limit and limit < len(documents):
        documents = random.Random(seed).sample(documents, limit)
    return documents


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads) so far, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Fields after "(comm)" start at field 3 (state): utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _raw_embedder(texts: list[str], batch_size: int) -> dict[str, Any]:
    return service_module("ragplane_embed.bench").raw_embed_throughput(texts, batch_size=batch_size)


def _pipeline(documents: list[tuple[str, str]], batch_size: int, timeout_s: float) -> dict[str, Any]:
    import grpc

    from ragplane.cli.stack import private_stack
    from ragplane.client import Client, Document, IngestOutcome
    from ragplane.v1 import retrieve_pb2, retrieve_pb2_grpc

    env = {"RAGPLANE_API_KEYS": f"{TENANT_KEY}={TENANT}", "RAGPLANE_EMBED_MODEL_BATCH_SIZE": str(batch_size)}
    metadata = [("authorization", f"Bearer {TENANT_KEY}")]
    uploads = [
        Document(doc_id, text.encode(), source=f"{doc_id}.txt", content_type="text/plain", title=doc_id.split("/")[0])
        for doc_id, text in documents
    ]
    with console.status("starting a private local stack") as spinner, private_stack(env) as stack:
        spinner.update("ingesting through the pipeline")
        with (
            Client(stack.address("orchestrator"), ingest_address=stack.address("ingest"), api_key=TENANT_KEY) as client,
            # The index's chunk count is the retrieve service's internal GetIndexStats, which the SDK does not offer.
            grpc.insecure_channel(stack.address("retrieve")) as retrieve_channel,
        ):
            retrieve = retrieve_pb2_grpc.RetrieveServiceStub(retrieve_channel)
            pids = stack.pids()
            cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
            started = time.perf_counter()
            uploaded = client.ingest(*uploads, timeout=timeout_s).documents
            accepted = sum(1 for d in uploaded if d.outcome == IngestOutcome.ACCEPTED)
            chunks = sum(d.chunks for d in uploaded if d.outcome == IngestOutcome.ACCEPTED)
            failed = len(uploaded) - accepted
            uploaded_s = time.perf_counter() - started
            deadline = started + timeout_s
            indexed = 0
            while indexed < chunks:
                if time.perf_counter() > deadline:
                    break
                stats = retrieve.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=metadata, timeout=30)
                indexed = stats.chunk_count
                spinner.update(f"indexed {indexed}/{chunks} chunks")
                time.sleep(0.2)
            total_s = time.perf_counter() - started
            cpu_after = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        peaks = {name: _peak_rss_mb(pid) for name, pid in stack.pids().items()}
        cpu = {
            name: round(cpu_after[name] - cpu_before[name], 2)
            for name in pids
            if cpu_after.get(name) is not None and cpu_before.get(name) is not None
        }
    return {
        "documents": accepted,
        "failed_documents": failed,
        "chunks": chunks,
        "indexed_chunks": indexed,
        "upload_seconds": round(uploaded_s, 2),
        "seconds": round(total_s, 2),
        "documents_per_s": round(accepted / total_s, 2),
        "chunks_per_s": round(indexed / total_s, 2),
        "complete": indexed >= chunks,
        "peak_rss_mb": peaks,
        "cpu_seconds": cpu,
    }


def _throughput(raw: dict[str, Any], pipeline: dict[str, Any], ratio: float | None) -> BenchResult:
    result = BenchResult(
        "ingest",
        THROUGHPUT_COLUMNS,
        title="ingest throughput (SQuAD v1.1 dev passages)",
        notes=f"pipeline / raw embedder = {ratio} (target >= 0.85)",
    )
    result.add(
        "raw embedder (in process)",
        {
            "documents": raw["texts"],
            "chunks": raw["texts"],
            "seconds": raw["seconds"],
            "chunks_per_s": raw["chunks_per_s"],
        },
    )
    result.add(
        "end to end through Kafka",
        {
            "documents": pipeline["documents"],
            "chunks": pipeline["indexed_chunks"],
            "seconds": pipeline["seconds"],
            "documents_per_s": pipeline["documents_per_s"],
            "chunks_per_s": pipeline["chunks_per_s"],
        },
    )
    return result


def _cpu(raw: dict[str, Any], pipeline: dict[str, Any]) -> BenchResult:
    result = BenchResult(
        "ingest", CPU_COLUMNS, variant="cpu", title="CPU time and peak memory per process (peak RSS is VmHWM)"
    )
    cpu = pipeline["cpu_seconds"]
    chunks = max(pipeline["indexed_chunks"], 1)
    raw_ms = round(1000 * raw["cpu_seconds"] / max(raw["texts"], 1), 1)
    result.add("raw embedder (in process)", {"cpu_s": raw["cpu_seconds"], "cpu_ms_per_chunk": raw_ms})
    for name, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        result.add(
            name,
            {
                "cpu_s": seconds,
                "cpu_ms_per_chunk": round(1000 * seconds / chunks, 1),
                "peak_rss_mb": pipeline["peak_rss_mb"].get(name),
            },
        )
    total = sum(cpu.values())
    result.add(
        "pipeline, all processes", {"cpu_s": round(total, 2), "cpu_ms_per_chunk": round(1000 * total / chunks, 1)}
    )
    return result


def run(args: argparse.Namespace) -> list[BenchResult]:
    """The raw embedder, then the whole pipeline, on the same passages: throughput and CPU per process."""
    documents = _passages(args.limit, args.seed)
    console.print(f"{len(documents)} SQuAD v1.1 dev passages")
    with console.status("raw embedder (in process, no Kafka)"):
        raw = _raw_embedder([text for _, text in documents], args.batch_size)
    pipeline = _pipeline(documents, args.batch_size, args.timeout)
    ratio = round(pipeline["chunks_per_s"] / raw["chunks_per_s"], 3) if raw["chunks_per_s"] else None
    throughput = _throughput(raw, pipeline, ratio)
    throughput.details = {
        "passages": len(documents),
        "raw_embedder": raw,
        "pipeline": pipeline,
        "ratio_pipeline_to_raw": ratio,
        "target_ratio": 0.85,
    }
    return [throughput, _cpu(raw, pipeline)]


def exit_code(results: list[BenchResult]) -> int:
    """1 when the pipeline did not index every chunk before the timeout."""
    return 0 if results[0].details["pipeline"]["complete"] else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ingest benchmark's flags."""
    parser.add_argument("--limit", type=int, default=0, help="passages to use (default all 2,067)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch-size", type=int, default=32, help="embedder batch size in both runs")
    parser.add_argument("--timeout", type=float, default=3600.0)
