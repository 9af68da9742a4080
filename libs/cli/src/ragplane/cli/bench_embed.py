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
from ragplane.cli.cmd_bench import add_common_arguments, save_results
from ragplane.cli.output import console, print_json, print_table


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragplane.runtime.settings import load_settings
    from ragplane_embed.bench import raw_embed_throughput
    from ragplane_embed.config import Settings
    from ragplane_embed.embedder import build_embedder

    passages, _, source = load_passages(args.passages)
    overrides: dict[str, Any] = {"consumer_enabled": False}
    if args.torch_threads:
        overrides["torch_threads"] = args.torch_threads
    embedder = build_embedder(load_settings(Settings, None, **overrides))
    embedder.start()
    results = []
    for batch_size in args.batch_sizes:
        result = raw_embed_throughput(passages, batch_size, embedder=embedder)
        result["passage_source"] = source
        result["mean_chars"] = round(sum(len(p) for p in passages) / max(len(passages), 1), 1)
        results.append(result)
    # The machine is shared: the load says how much of it the benchmark really had.
    return {"runs": results, "load_average": [round(x, 2) for x in os.getloadavg()]}


def _cmd(args: argparse.Namespace) -> int:
    results = run(args)
    path = save_results("embed", results, args.out)
    if args.json:
        print_json(results)
    else:
        print_table("raw embedder throughput (dense windows + BM25 sparse)",
                    ["passages", "batch", "windows", "seconds", "chunks/s", "backend"],
                    [(r["texts"], r["batch_size"], r["windows"], r["seconds"], r["chunks_per_s"], r["backend"])
                     for r in results["runs"]])
        console.print(f"passages: {results['runs'][0]['passage_source']}; saved {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("embed", help="raw embedder throughput in chunks/s")
    parser.add_argument("--passages", type=int, default=500, help="SQuAD-like passages to embed (default 500)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32], help="texts per call (default 32)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch threads (default: the setting)")
    add_common_arguments(parser)
    parser.set_defaults(func=_cmd)
