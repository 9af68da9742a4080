"""``ragplane bench query``: per-stage latency of the query path and the orchestrator's own overhead.

A private local stack is started on free ports (or ``--use-running`` targets the running one), the passages of
the SQuAD v1.1 dev articles that the sampled questions come from are ingested, and every question is asked
through the orchestrator with the caches bypassed (so every stage runs), then once more from the exact cache.
Stage timings come from the answers themselves (AnswerResult.timings): input guardrail, embed, retrieve, rerank,
generate (time to first token and total), output guardrail, total, and the orchestrator's overhead (total minus
the time spent waiting on downstream services).

Retrieval latency at 100k chunks is ``ragplane bench retrieve``; retrieval and answer quality are
``ragplane eval run squad-dev`` (with ``--retrieval-only`` for the retrieval metrics).
"""

from __future__ import annotations

import argparse
import os
import random
from typing import TYPE_CHECKING, Any

from ragplane.cli.cmd_bench import load_dataset
from ragplane.cli.output import console
from ragplane.runtime.bench import BenchResult, latency_summary

if TYPE_CHECKING:
    from ragplane.client import Client

HELP = "per-stage latency of the query path and orchestrator overhead"
COLUMNS = ["n", "p50_ms", "p95_ms", "mean_ms"]

TENANT_KEY = "bench-query-key"
TENANT = "bench-query"
STAGES = (
    "guardrail_input",
    "cache_exact",
    "embed",
    "cache_semantic",
    "retrieve",
    "rerank",
    "generate_ttft",
    "generate",
    "guardrail_output",
    "orchestrator_overhead",
    "total",
)


def _summarise(samples: list[dict[str, float]]) -> dict[str, dict[str, float | int | None]]:
    """Per stage present in the samples: n, p50, p95 and mean milliseconds."""
    summary = {}
    for stage in STAGES:
        values = [s[stage] for s in samples if stage in s]
        if values:
            summary[stage] = latency_summary(values, quantiles=(50, 95))
    return summary


def _workload(questions: int, seed: int):
    dataset = load_dataset()
    picked = random.Random(seed).sample(dataset.questions, questions)
    articles = {doc_id.split("/")[0] for q in picked for doc_id in q.relevant_doc_ids}
    corpus = [doc for doc in dataset.corpus if doc.doc_id.split("/")[0] in articles]
    return picked, corpus


def _ingest(client: Client, corpus, timeout_s: float) -> int:
    """Upload the passages and wait for them; returns how many accepted ones reached INDEXED (or FAILED)."""
    from ragplane.client import Document

    documents = [
        Document(doc.doc_id, doc.text.encode(), source=f"{doc.doc_id}.txt", content_type="text/plain", title=doc.title)
        for doc in corpus
    ]
    result = client.ingest(*documents, wait=True, timeout=timeout_s)
    return sum(1 for d in result.documents if d.accepted and not d.pending)


def _ask_all(client: Client, questions, max_tokens: int) -> list[tuple[str, dict[str, float]]]:
    """Ask every question once; returns (cache outcome, stage -> ms) per answer."""
    samples = []
    for index, question in enumerate(questions, start=1):
        console.print(f"[dim]{index}/{len(questions)}[/dim] {question.question}", highlight=False)
        answer = client.ask(question.question, max_tokens=max_tokens, timeout=900)
        samples.append((answer.cache.value.lower(), dict(answer.timings)))  # "miss", "exact_hit", ...
    return samples


def _measure(args: argparse.Namespace, client: Client) -> dict[str, Any]:
    questions, corpus = _workload(args.questions, args.seed)
    articles = len({d.doc_id.split("/")[0] for d in corpus})
    console.print(f"ingesting {len(corpus)} passages of {articles} articles")
    indexed = _ingest(client, corpus, args.timeout)
    first = _ask_all(client, questions, args.max_tokens)
    again = _ask_all(client, questions, args.max_tokens)
    misses = [timings for outcome, timings in first if outcome == "miss"]
    hits = [timings for outcome, timings in first + again if outcome in ("exact_hit", "semantic_hit")]
    return {
        "questions": len(questions),
        "passages_indexed": indexed,
        "articles": articles,
        "max_tokens": args.max_tokens,
        "full_path": _summarise(misses),
        "cache_hits": _summarise(hits),
        "cache_outcomes": {"first_pass": [o for o, _ in first], "second_pass": [o for o, _ in again]},
        "overhead_target_p95_ms": 15.0,
    }


def run(args: argparse.Namespace) -> list[BenchResult]:
    """Ask the questions on a private stack (or the running one); per-stage latency with and without cache."""
    from ragplane.cli.stack import private_stack
    from ragplane.client import Client

    default_key = os.environ.get("RAGPLANE_API_KEY", "dev-key") if args.use_running else TENANT_KEY
    api_key = args.api_key or default_key
    if args.use_running:
        address = os.environ.get("RAGPLANE_ADDR", "127.0.0.1:50051")
        ingest_address = os.environ.get("RAGPLANE_INGEST_ADDR", "127.0.0.1:50052")
        with Client(address, ingest_address=ingest_address, api_key=api_key) as client:
            results = _measure(args, client)
    else:
        console.print("starting a private local stack on free ports")
        with (
            private_stack({"RAGPLANE_API_KEYS": f"{TENANT_KEY}={TENANT}"}) as stack,
            Client(stack.address("orchestrator"), ingest_address=stack.address("ingest"), api_key=api_key) as client,
        ):
            results = _measure(args, client)
    out = []
    for variant, title, key in (
        ("", "full query path (cache miss)", "full_path"),
        ("cache-hits", "served from cache", "cache_hits"),
    ):
        result = BenchResult("query", COLUMNS, variant=variant, title=title)
        for stage, summary in results[key].items():
            result.add(stage, {column: summary[column] for column in COLUMNS})
        out.append(result)
    overhead = results["full_path"].get("orchestrator_overhead", {}).get("p95_ms")
    out[0].notes = f"orchestrator overhead p95: {overhead} ms (target <= 15 ms)"
    out[0].details = results
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The query benchmark's flags."""
    parser.add_argument("--questions", type=int, default=20, help="SQuAD v1.1 dev questions to ask")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=64, help="answer length cap per question")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--use-running",
        action="store_true",
        help="measure the running local stack ($RAGPLANE_ADDR) instead of a private one",
    )
    parser.add_argument("--api-key", help="key for --use-running (default: the bench tenant's)")
