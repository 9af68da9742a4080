"""``ragplane bench generate``: time to first token, total latency and tokens/s against prompt size.

Prompts are built the way the generate service builds them (its chat template, rules and numbered passages from
the dataset), at several target sizes, and sent through the generate service's v2 client (ModelStreamInfer).
The model server is started as a separate process with the chosen model (or an existing one is used with
``--addr``). Every request shares the system prompt, as in production, so its KV cache is reused; the passages and
question differ per request. Decode speed is measured with a fixed number of generated tokens (``min_length``),
so early end-of-sequence does not skew it. The measurement is ``ragplane_generate.bench``; this command loads
the dataset (``ragplane_eval``).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from ragplane.cli.cmd_bench import load_dataset, service_module
from ragplane.cli.output import progress
from ragplane.runtime.bench import BenchResult

HELP = "TTFT, latency and tokens/s against prompt size"
DEFAULT_SIZES = "250,500,1000,2000"
SIZE_COLUMNS = [
    "prompt_tokens",
    "ttft_p50_s",
    "ttft_p95_s",
    "total_p50_s",
    "total_p95_s",
    "prompt_tokens_per_s",
    "decode_tokens_per_s",
]
CONCURRENT_COLUMNS = ["wall_s", "completion_tokens_per_s", "ttft_max_s"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The generate benchmark's flags."""
    parser.add_argument("--model", default="qwen2.5-1.5b", help="qwen2.5-1.5b, smollm2-135m or a GGUF path")
    parser.add_argument("--addr", default="", help="use a running model server at host:port instead of starting one")
    parser.add_argument("--dataset", default="squad-dev", help="passages: squad-dev or a SQuAD JSON / JSONL file")
    parser.add_argument("--prompt-tokens", default=DEFAULT_SIZES, help="target prompt sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="requests per prompt size")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens generated per request (fixed)")
    parser.add_argument("--threads", type=int, default=0, help="model server threads per slot (0: all cores)")
    parser.add_argument("--slots", type=int, default=1, help="model server slots")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="also send this many requests at once (smallest size) and report throughput",
    )
    parser.add_argument("--seed", type=int, default=7)


def measure(args: argparse.Namespace) -> dict:
    """Load the dataset, then run ``ragplane_generate.bench.measure`` with the flags."""
    bench = service_module("ragplane_generate.bench")
    dataset = load_dataset(args.dataset)
    prompts = bench.Prompts(args.model, [q.question for q in dataset.questions], dataset.corpus, args.seed)
    options = bench.ServerOptions(args.model, args.addr, args.threads, args.slots)
    sizes = [int(s) for s in args.prompt_tokens.split(",") if s.strip()]
    load_before = os.getloadavg()[0]
    results = asyncio.run(
        bench.measure(options, prompts, sizes, args.runs, args.max_tokens, args.concurrency, progress)
    )
    results["load_average_1m"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    return results


def run(args: argparse.Namespace) -> list[BenchResult]:
    """One row per prompt size; a second table for the concurrent requests when asked for."""
    results = measure(args)
    sizes = BenchResult(
        "generate",
        SIZE_COLUMNS,
        details=results,
        title=f"Generate: {results['model']}, {results['max_tokens']} tokens out, {results['runs']} "
        f"runs per size, {results['threads_per_slot']} thread(s) x {results['slots']} slot(s)",
    )
    for target, row in results["sizes"].items():
        sizes.add(f"~{target} tokens", {column: row[column] for column in SIZE_COLUMNS})
    if "ttft_ms_per_prompt_token" in results:
        sizes.notes = f"TTFT grows {results['ttft_ms_per_prompt_token']} ms per prompt token (least-squares fit)"
    out = [sizes]
    if "concurrent" in results:
        concurrent = results["concurrent"]
        table = BenchResult("generate", CONCURRENT_COLUMNS, variant="concurrent", title="Concurrent requests")
        table.add(
            f"{concurrent['requests']} requests of ~{concurrent['prompt_tokens']} tokens",
            {column: concurrent[column] for column in CONCURRENT_COLUMNS},
        )
        out.append(table)
    return out
