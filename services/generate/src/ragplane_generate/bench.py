"""Time to first token, total latency and tokens/s of the model server against prompt size.

Prompts are built the way the generate service builds them (its chat template, rules and numbered passages),
at several target sizes, and sent through the service's v2 client (ModelStreamInfer). The model server is
started as a separate process with the chosen model (or an existing one is used). Every request shares the
system prompt, as in production, so its KV cache is reused; the passages and question differ per request.
Decode speed is measured with a fixed number of generated tokens (``min_tokens``), so early end-of-sequence
does not skew it. Latency percentiles are ``ragplane.runtime.bench.percentile`` (the one definition).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragplane.runtime.bench import percentile


@dataclass(frozen=True)
class ServerOptions:
    """The model server a benchmark starts (or ``address`` of a running one)."""

    model: str = "qwen2.5-1.5b"
    address: str = ""
    threads: int = 0
    slots: int = 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_model_server(options: ServerOptions, log_path: Path) -> tuple[subprocess.Popen, str]:
    """Start ``python -m ragplane_generate.modelserver`` on free loopback ports; return it and its address."""
    port = _free_port()
    env = dict(os.environ)
    env.update(
        {
            "RAGPLANE_LLM_MODEL": options.model,
            "RAGPLANE_GRPC_LISTEN": f"127.0.0.1:{port}",
            "RAGPLANE_METRICS_LISTEN": f"127.0.0.1:{_free_port()}",
            "RAGPLANE_LLM_SLOTS": str(options.slots),
            "RAGPLANE_LLM_THREADS": str(options.threads),
            "RAGPLANE_LLM_CONTEXT_TOKENS": "4096",
        }
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ragplane_generate.modelserver"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return process, f"127.0.0.1:{port}"


async def _wait_ready(client: Any, process: subprocess.Popen | None, log_path: Path, timeout_s: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"model server exited:\n{log_path.read_text()[-2000:]}")
        if await client.is_ready(timeout_s=2.0):
            return time.perf_counter() - started
        await asyncio.sleep(0.5)
    raise RuntimeError(f"model server not ready after {timeout_s:.0f}s")


async def one_request(client: Any, prompt: str, sampling: Any) -> dict[str, float]:
    """Stream one completion; time to first token, total time, token counts and decode tokens/s."""
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
    return {
        "ttft_s": ttft,
        "total_s": total,
        "prompt_tokens": completion.prompt_tokens if completion else 0,
        "completion_tokens": generated,
        "decode_tokens_per_s": decode,
    }


class Prompts:
    """Prompts of about a target size: a random question and as many random passages as fit."""

    def __init__(self, model: str, questions: Sequence[str], corpus: Sequence[Any], seed: int) -> None:
        from ragplane_generate.models import chat_template_for, resolve_model
        from ragplane_generate.templates import get_template
        from ragplane_generate.tokens import GgufTokenCounter

        self.questions, self.corpus = questions, corpus
        self.rng = random.Random(seed)
        self.counter = GgufTokenCounter(resolve_model(model))
        self.template = get_template(chat_template_for(model))

    def __call__(self, target: int) -> str:
        """A prompt of about ``target`` tokens (``corpus`` items have doc_id, title and text)."""
        from ragplane_generate.prompt import Passage, PromptBudget, PromptBuilder

        question = self.rng.choice(self.questions)
        builder = PromptBuilder(
            self.template, self.counter, PromptBudget(context_tokens=max(1, target), query_tokens=256)
        )
        room = max(1, target - builder.fixed_tokens - 2 * self.counter.count(question))
        builder = PromptBuilder(self.template, self.counter, PromptBudget(context_tokens=room, query_tokens=256))
        docs = self.rng.sample(list(self.corpus), min(60, len(self.corpus)))
        return builder.build(question, [Passage(d.doc_id, d.text, doc_id=d.doc_id, title=d.title) for d in docs]).text


def size_summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """p50/p95 of TTFT and total, prompt and decode tokens/s over the runs of one prompt size."""
    ttfts = [r["ttft_s"] for r in runs]
    totals = [r["total_s"] for r in runs]
    prompt_tokens = statistics.fmean(r["prompt_tokens"] for r in runs)
    return {
        "prompt_tokens": round(prompt_tokens),
        "ttft_p50_s": round(percentile(ttfts, 50), 2),
        "ttft_p95_s": round(percentile(ttfts, 95), 2),
        "total_p50_s": round(percentile(totals, 50), 2),
        "total_p95_s": round(percentile(totals, 95), 2),
        "decode_tokens_per_s": round(statistics.fmean(r["decode_tokens_per_s"] for r in runs), 1),
        "prompt_tokens_per_s": round(prompt_tokens / percentile(ttfts, 50), 1),
    }


def ttft_slope_ms(sizes: dict[int, dict[str, float]]) -> float | None:
    """Least-squares growth of median TTFT per prompt token, in ms (None with fewer than two sizes)."""
    points = [(r["prompt_tokens"], r["ttft_p50_s"]) for r in sizes.values()]
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if not spread:
        return None
    return round(sum((x - mean_x) * (y - mean_y) for x, y in points) / spread * 1000, 1)


async def _concurrent(client: Any, prompts: list[str], sampling: Any, target: int) -> dict[str, Any]:
    started = time.perf_counter()
    together = await asyncio.gather(*(one_request(client, p, sampling) for p in prompts))
    wall = time.perf_counter() - started
    return {
        "requests": len(prompts),
        "prompt_tokens": target,
        "wall_s": round(wall, 2),
        "completion_tokens_per_s": round(sum(r["completion_tokens"] for r in together) / wall, 1),
        "ttft_max_s": round(max(r["ttft_s"] for r in together), 2),
    }


async def measure(
    options: ServerOptions,
    prompts: Prompts,
    sizes: Sequence[int],
    runs: int,
    max_tokens: int,
    concurrency: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Per prompt size, ``runs`` requests of ``max_tokens`` tokens; optionally ``concurrency`` at once.

    Returns:
        ``{"model", "max_tokens", "runs", "slots", "threads_per_slot", "ready_s", "sizes": {target: summary}}``
        plus ``"ttft_ms_per_prompt_token"`` and ``"concurrent"`` when measured.
    """
    from ragplane_generate.llm_client import LlmClient, Sampling
    from ragplane_generate.modelserver.config import usable_cpus

    log_path = Path(tempfile.mkdtemp(prefix="bench-generate-")) / "modelserver.log"
    process, address = None, options.address
    if not address:
        progress(f"starting the model server with {options.model}")
        process, address = start_model_server(options, log_path)
    client = LlmClient(address, "ensemble", streaming="on", retries=0)
    results: dict[str, Any] = {
        "model": options.model,
        "max_tokens": max_tokens,
        "runs": runs,
        "slots": options.slots,
        "threads_per_slot": options.threads or max(1, (usable_cpus() - 1) // options.slots),
        "sizes": {},
    }
    try:
        results["ready_s"] = round(await _wait_ready(client, process, log_path), 2)
        sampling = Sampling(max_tokens=max_tokens, min_tokens=max_tokens, stop=prompts.template.stop)
        progress("warm-up request")
        await one_request(client, prompts(200), sampling)
        for target in sizes:
            samples = []
            for run_index in range(runs):
                progress(f"prompt ~{target} tokens, run {run_index + 1}/{runs}")
                samples.append(await one_request(client, prompts(target), sampling))
            results["sizes"][target] = size_summary(samples)
        if (slope := ttft_slope_ms(results["sizes"])) is not None:
            results["ttft_ms_per_prompt_token"] = slope
        if concurrency > 1:
            progress(f"{concurrency} concurrent requests")
            target = min(sizes)
            results["concurrent"] = await _concurrent(
                client, [prompts(target) for _ in range(concurrency)], sampling, target
            )
    finally:
        await client.close()
        _stop(process)
    return results


def _stop(process: subprocess.Popen | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
