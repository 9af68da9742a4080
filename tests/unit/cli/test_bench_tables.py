"""The stack-driven benchmarks (ingest, query) turn their measurements into tables and an exit code."""

from __future__ import annotations

import argparse

import pytest

from ragplane.cli import bench_ingest, bench_query
from ragplane.cli.main import build_parser

pytestmark = pytest.mark.unit


def test_query_tables_hold_each_stage_s_latency_and_the_overhead_note(monkeypatch):
    full = {"total": [100.0, 200.0, 300.0], "orchestrator_overhead": [2.0, 4.0, 6.0]}
    samples = [{stage: values[i] for stage, values in full.items()} for i in range(3)]
    measured = {"full_path": bench_query._summarise(samples), "cache_hits": bench_query._summarise(samples[:1])}
    monkeypatch.setattr(bench_query, "_measure", lambda args, client: measured)
    args = build_parser().parse_args(["bench", "query", "--use-running"])
    full_path, hits = bench_query.run(args)
    assert (full_path.variant, hits.variant) == ("", "cache-hits")
    rows = {row["label"]: row["values"] for row in full_path.rows}
    assert list(rows) == ["orchestrator_overhead", "total"]  # in the order of the query path's stages
    assert rows["total"] == {"n": 3, "p50_ms": 200.0, "p95_ms": 290.0, "mean_ms": 200.0}
    assert full_path.notes == "orchestrator overhead p95: 5.8 ms (target <= 15 ms)"


def _pipeline(complete: bool) -> dict:
    return {
        "documents": 10,
        "indexed_chunks": 20 if complete else 12,
        "seconds": 4.0,
        "documents_per_s": 2.5,
        "chunks_per_s": 5.0 if complete else 3.0,
        "complete": complete,
        "cpu_seconds": {"embed": 2.0, "ingest": 1.0},
        "peak_rss_mb": {"embed": 900.0, "ingest": 200.0},
    }


@pytest.mark.parametrize(("complete", "code"), [(True, 0), (False, 1)])
def test_ingest_tables_compare_the_pipeline_with_the_raw_embedder_and_fail_when_incomplete(monkeypatch, complete, code):
    raw = {"texts": 10, "seconds": 1.0, "chunks_per_s": 10.0, "cpu_seconds": 1.5}
    monkeypatch.setattr(bench_ingest, "_passages", lambda limit, seed: [("a/0", "text")] * 10)
    monkeypatch.setattr(bench_ingest, "_raw_embedder", lambda texts, batch_size: raw)
    monkeypatch.setattr(bench_ingest, "_pipeline", lambda documents, batch_size, timeout: _pipeline(complete))
    args = argparse.Namespace(limit=10, seed=1, batch_size=4, timeout=5.0)
    throughput, cpu = bench_ingest.run(args)
    assert throughput.notes == f"pipeline / raw embedder = {0.5 if complete else 0.3} (target >= 0.85)"
    assert [row["label"] for row in cpu.rows] == [
        "raw embedder (in process)",
        "embed",
        "ingest",
        "pipeline, all processes",
    ]
    assert cpu.rows[-1]["values"]["cpu_ms_per_chunk"] == round(3000 / (20 if complete else 12), 1)
    assert bench_ingest.exit_code([throughput, cpu]) == code
