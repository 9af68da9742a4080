"""``ragplane bench embed``: raw embedder throughput (chunks/s), the ceiling of the ingest pipeline.

Passages are SQuAD v1.1 dev paragraphs when a copy is found (RAGPLANE_SQUAD_PATH or the shared datasets
folder), else generated text of similar length. The measurement is ``ragplane_embed.bench
.raw_embed_throughput``: dense MiniLM windows + BM25 sparse vectors, as the chunks consumer computes them,
with no Kafka and no gRPC in the way.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ragplane.cli.bench_retrieve import load_passages
from ragplane.cli.cmd_bench import service_module
from ragplane.runtime.bench import BenchResult

HELP = "raw embedder throughput in chunks/s"
COLUMNS = ["passages", "windows", "seconds", "chunks_per_s", "cpu_seconds", "backend"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The embed benchmark's flags."""
    parser.add_argument("--passages", type=int, default=500, help="SQuAD-like passages to embed (default 500)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32], help="texts per call (default 32)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch threads (default: the setting)")


def run(args: argparse.Namespace) -> list[BenchResult]:
    """Embed the passages once per batch size; one row per batch size."""
    bench = service_module("ragplane_embed.bench")
    passages, _, source = load_passages(args.passages)
    overrides: dict[str, Any] = {"consumer_enabled": False}
    if args.torch_threads:
        overrides["torch_threads"] = args.torch_threads
    embedder = bench.started_embedder(**overrides)
    result = BenchResult("embed", COLUMNS, title="raw embedder throughput (dense windows + BM25 sparse)")
    for batch_size in args.batch_sizes:
        run_ = bench.raw_embed_throughput(passages, batch_size, embedder=embedder)
        result.add(f"batch {batch_size}", {"passages": run_["texts"], **{c: run_[c] for c in COLUMNS[1:]}})
    mean_chars = round(sum(len(p) for p in passages) / max(len(passages), 1), 1)
    result.notes = f"passages: {source}, {mean_chars} characters on average"
    # The machine is shared: the load says how much of it the benchmark really had.
    result.details = {
        "passage_source": source,
        "mean_chars": mean_chars,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    return [result]
