"""``ragplane bench generate``: time to first token, total latency and tokens/s against prompt size.

Prompts are built the way the generate service builds them (its chat template, rules and numbered passages from
the dataset), at several target sizes, and sent through the generate service's v2 client (ModelStreamInfer).
The model server is started as a separate process with the chosen model (or an existing one is used with
``--addr``). Every request shares the system prompt, as in production, so its KV cache is reused; the passages and
question differ per request. Decode speed is measured with a fixed number of generated tokens (``min_length``),
so early end-of-sequence does not skew it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ragplane.cli import cmd_bench

DEFAULT_SIZES = "250,500,1000,2000"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="TTFT, latency and tokens/s against prompt size")
    parser.add_argument("--model", default="qwen2.5-1.5b", help="qwen2.5-1.5b, smollm2-135m or a GGUF path")
    parser.add_argument("--addr", default="", help="use a running model server at host:port instead of starting one")
    parser.add_argument("--dataset", default="squad-dev", help="passages: squad-dev or a SQuAD JSON / JSONL file")
    parser.add_argument("--prompt-tokens", default=DEFAULT_SIZES, help="target prompt sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="requests per prompt size")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens generated per request (fixed)")
    parser.add_argument("--threads", type=int, default=0, help="model server threads per slot (0: all cores)")
    parser.add_argument("--slots", type=int, default=1, help="model server slots")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="also send this many requests at once (smallest size) and report throughput")
    parser.add_argument("--seed", type=int, default=7)
    cmd_bench.add_common_arguments(parser)
    parser.set_defaults(func=run)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(args: argparse.Namespace, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ)
    env.update({"RAGPLANE_LLM_MODEL": args.model, "RAGPLANE_GRPC_LISTEN": f"127.0.0.1:{port}",
                "RAGPLANE_METRICS_LISTEN": f"127.0.0.1:{_free_port()}", "RAGPLANE_LLM_SLOTS": str(args.slots),
                "RAGPLANE_LLM_THREADS": str(args.threads), "RAGPLANE_LLM_CONTEXT_TOKENS": "4096"})
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ragplane_generate.modelserver"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
    return process, f"127.0.0.1:{port}"


async def _wait_ready(client: Any, process: subprocess.Popen | None, log_path: Path, timeout_s: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"model server exited:\n{log_path.read_text()[-2000:]}")
        if await client.is_ready(timeout_s=2.0):
            return time.perf_counter() - started
        await asyncio.sleep(0.5)
    raise SystemExit(f"model server not ready after {timeout_s:.0f}s")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def _one(client: Any, prompt: str, sampling: Any) -> dict[str, float]:
    from ragplane_generate.llm_client import Completion, Delta

    started = time.perf_counter()
    first: float | None = None
    completion: Completion | None = None
    async for event in client.generate(prompt, sampling, timeout_s=900):
        if isinstance(event, Delta) and first is None:
            first = time.perf_counter()
        elif isinstance(event, Completion):
            completion = event
    total = time.perf_counter() - started
    ttft = (first or time.perf_counter()) - started
    generated = completion.completion_tokens if completion and completion.completion_tokens else 0
    decode = (generated - 1) / (total - ttft) if generated > 1 and total > ttft else 0.0
    return {"ttft_s": ttft, "total_s": total, "prompt_tokens": completion.prompt_tokens if completion else 0,
            "completion_tokens": generated, "decode_tokens_per_s": decode}


async def _bench(args: argparse.Namespace, progress) -> dict[str, Any]:
    from ragplane.cli.datasets import resolve_dataset
    from ragplane_eval.datasets import load_dataset
    from ragplane_generate.llm_client import LlmClient, Sampling
    from ragplane_generate.models import chat_template_for, resolve_model
    from ragplane_generate.prompt import Passage, PromptBudget, PromptBuilder
    from ragplane_generate.templates import get_template
    from ragplane_generate.tokens import GgufTokenCounter

    dataset = load_dataset(resolve_dataset(args.dataset, progress=progress))
    rng = random.Random(args.seed)
    counter = GgufTokenCounter(resolve_model(args.model))
    template = get_template(chat_template_for(args.model))
    log_path = Path(tempfile.mkdtemp(prefix="bench-generate-")) / "modelserver.log"
    process = None
    address = args.addr
    if not address:
        progress(f"starting the model server with {args.model}")
        process, address = _start_server(args, log_path)
    client = LlmClient(address, "ensemble", streaming="on", retries=0)
    from ragplane_generate.modelserver.config import usable_cpus

    threads = args.threads or max(1, (usable_cpus() - 1) // args.slots)
    results: dict[str, Any] = {"model": args.model, "max_tokens": args.max_tokens, "runs": args.runs,
                               "slots": args.slots, "threads_per_slot": threads, "sizes": {}}
    try:
        results["ready_s"] = round(await _wait_ready(client, process, log_path), 2)
        sampling = Sampling(max_tokens=args.max_tokens, min_tokens=args.max_tokens, stop=template.stop)

        def prompt_of(target: int) -> tuple[str, int]:
            question = rng.choice(dataset.questions)
            builder = PromptBuilder(template, counter, PromptBudget(context_tokens=max(1, target), query_tokens=256))
            room = max(1, target - builder.fixed_tokens - 2 * counter.count(question.question))
            builder = PromptBuilder(template, counter, PromptBudget(context_tokens=room, query_tokens=256))
            docs = rng.sample(dataset.corpus, min(60, len(dataset.corpus)))
            built = builder.build(question.question, [Passage(d.doc_id, d.text, doc_id=d.doc_id, title=d.title)
                                                      for d in docs])
            return built.text, built.prompt_tokens

        progress("warm-up request")
        await _one(client, prompt_of(200)[0], sampling)
        for target in [int(s) for s in args.prompt_tokens.split(",") if s.strip()]:
            runs = []
            for run_index in range(args.runs):
                prompt, _ = prompt_of(target)
                progress(f"prompt ~{target} tokens, run {run_index + 1}/{args.runs}")
                runs.append(await _one(client, prompt, sampling))
            ttfts = [r["ttft_s"] for r in runs]
            totals = [r["total_s"] for r in runs]
            prompt_tokens = statistics.fmean(r["prompt_tokens"] for r in runs)
            results["sizes"][target] = {
                "prompt_tokens": round(prompt_tokens),
                "ttft_p50_s": round(statistics.median(ttfts), 2), "ttft_p95_s": round(_percentile(ttfts, 0.95), 2),
                "total_p50_s": round(statistics.median(totals), 2),
                "total_p95_s": round(_percentile(totals, 0.95), 2),
                "decode_tokens_per_s": round(statistics.fmean(r["decode_tokens_per_s"] for r in runs), 1),
                "prompt_tokens_per_s": round(prompt_tokens / statistics.median(ttfts), 1),
            }
        points = [(r["prompt_tokens"], r["ttft_p50_s"]) for r in results["sizes"].values()]
        if len(points) >= 2:
            mean_x = statistics.fmean(x for x, _ in points)
            mean_y = statistics.fmean(y for _, y in points)
            spread = sum((x - mean_x) ** 2 for x, _ in points)
            if spread:
                slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
                results["ttft_ms_per_prompt_token"] = round(slope * 1000, 1)
        if args.concurrency > 1:
            target = min(int(s) for s in args.prompt_tokens.split(",") if s.strip())
            prompts = [prompt_of(target)[0] for _ in range(args.concurrency)]
            progress(f"{args.concurrency} concurrent requests")
            started = time.perf_counter()
            together = await asyncio.gather(*(_one(client, p, sampling) for p in prompts))
            wall = time.perf_counter() - started
            results["concurrent"] = {
                "requests": args.concurrency, "prompt_tokens": target, "wall_s": round(wall, 2),
                "completion_tokens_per_s": round(sum(r["completion_tokens"] for r in together) / wall, 1),
                "ttft_max_s": round(max(r["ttft_s"] for r in together), 2),
            }
    finally:
        await client.close()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return results


def run(args: argparse.Namespace) -> int:
    from ragplane.cli.output import err_console, print_json, print_table

    def progress(message: str) -> None:
        err_console.print(f"[dim]{message}[/dim]")

    load_before = os.getloadavg()[0]
    results = asyncio.run(_bench(args, progress))
    results["load_average_1m"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    path = cmd_bench.save_results("generate", results, args.out)
    if args.json:
        print_json(results)
        return 0
    rows = [[target, r["prompt_tokens"], r["ttft_p50_s"], r["ttft_p95_s"], r["total_p50_s"], r["total_p95_s"],
             r["prompt_tokens_per_s"], r["decode_tokens_per_s"]] for target, r in results["sizes"].items()]
    print_table(f"Generate: {results['model']}, {results['max_tokens']} tokens out, {results['runs']} runs per size, "
                f"{results['threads_per_slot']} thread(s) x {results['slots']} slot(s)",
                ["target", "prompt tokens", "TTFT p50 s", "TTFT p95 s", "total p50 s", "total p95 s",
                 "prompt tok/s", "decode tok/s"], rows)
    if "concurrent" in results:
        c = results["concurrent"]
        print_table("Concurrent requests", ["requests", "wall s", "completion tok/s", "max TTFT s"],
                    [[c["requests"], c["wall_s"], c["completion_tokens_per_s"], c["ttft_max_s"]]])
    if "ttft_ms_per_prompt_token" in results:
        progress(f"TTFT grows {results['ttft_ms_per_prompt_token']} ms per prompt token (least-squares fit)")
    progress(f"load average before/after: {results['load_average_1m']}; saved {path}")
    return 0
