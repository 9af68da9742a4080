"""``ragplane bench rerank``: reranker latency through the Rerank RPC, and ranking quality on SQuAD.

Latency (default): the rerank service runs in-process on a loopback port with each backend, and Rerank is timed
for each candidate count (passages from the dataset).

Quality (``--quality``): for a seeded sample of questions, the top-20 candidates come from a hybrid retrieval
(all-MiniLM-L6-v2 cosine + BM25, fused with RRF k=60) over every paragraph of the dataset; each reranker
reorders them, and MRR@10, hit@1 and hit@5 are reported before and after. The late-interaction retrieval weight
is chosen on the first half of the sample (tuning) and reported on the second (held out).

The measurements are ``ragplane_rerank.bench``; this command loads the dataset (``ragplane_eval``).
"""

from __future__ import annotations

import argparse
import asyncio
import random

from ragplane.cli.cmd_bench import load_dataset, service_module
from ragplane.cli.output import progress
from ragplane.runtime.bench import BenchResult

HELP = "reranker latency per candidate count, or quality (--quality)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The rerank benchmark's flags."""
    parser.add_argument("--dataset", default="squad-dev", help="squad-dev or a SQuAD JSON / ragplane JSONL file")
    parser.add_argument(
        "--backend",
        action="append",
        default=None,
        help="passthrough, late-interaction, cross-encoder (repeatable; default: the first two, "
        "plus cross-encoder when --cross-encoder-path is given)",
    )
    parser.add_argument("--cross-encoder-path", default="", help="local folder of a CrossEncoder model")
    parser.add_argument("--candidates", default="5,20,50", help="candidate counts for latency")
    parser.add_argument("--iterations", type=int, default=30, help="Rerank calls per candidate count")
    parser.add_argument(
        "--cache-mb",
        type=int,
        default=0,
        help="late-interaction passage-vector cache for the latency run (default 0: every passage "
        "is encoded, the cold cost; the service's default is 128)",
    )
    parser.add_argument(
        "--repeat-candidates",
        action="store_true",
        help="latency: rerank one fixed candidate set per count (with --cache-mb: the warm cost)",
    )
    parser.add_argument("--quality", action="store_true", help="measure MRR@10 / hit@k instead of latency")
    parser.add_argument("--questions", type=int, default=400, help="questions sampled for --quality")
    parser.add_argument("--top-k", type=int, default=20, help="hybrid candidates per question for --quality")
    parser.add_argument("--seed", type=int, default=13)


def _backends(args: argparse.Namespace) -> list[str]:
    if args.backend:
        return list(args.backend)
    return ["passthrough", "late-interaction"] + (["cross-encoder"] if args.cross_encoder_path else [])


def run_quality(args: argparse.Namespace) -> BenchResult:
    """MRR@10, hit@1, hit@5 and recall@k per ranker and split."""
    bench = service_module("ragplane_rerank.bench")
    dataset = load_dataset(args.dataset)
    index_of = {doc.doc_id: i for i, doc in enumerate(dataset.corpus)}
    questions = [q for q in dataset.questions if q.relevant_doc_ids and q.relevant_doc_ids[0] in index_of]
    sample = random.Random(args.seed).sample(questions, min(args.questions, len(questions)))
    results = bench.quality(
        [doc.text for doc in dataset.corpus],
        [q.question for q in sample],
        [index_of[q.relevant_doc_ids[0]] for q in sample],
        args.top_k,
        _backends(args),
        args.cross_encoder_path,
        progress=progress,
    )
    results["dataset"] = dataset.name
    result = BenchResult(
        "rerank",
        ["split", "mrr@10", "hit@1", "hit@5", f"recall@{args.top_k}"],
        variant="quality",
        title=f"Rerank quality: {dataset.name}, {results['questions']} questions, top-{args.top_k} hybrid candidates",
        details=results,
    )
    for name, by_split in results["rankers"].items():
        for split in ("tune", "held_out", "all"):
            m = by_split[split]
            result.add(
                name,
                {
                    "split": split,
                    "mrr@10": round(m["mrr@10"], 3),
                    "hit@1": round(m["hit@1"], 3),
                    "hit@5": round(m["hit@5"], 3),
                    f"recall@{args.top_k}": round(m["recall@k"], 3),
                },
            )
    return result


def run_latency(args: argparse.Namespace) -> BenchResult:
    """p50/p95/mean of the Rerank RPC per backend and candidate count."""
    bench = service_module("ragplane_rerank.bench")
    dataset = load_dataset(args.dataset)
    questions = [q.question for q in dataset.questions]
    passages = [(doc.doc_id, doc.text) for doc in dataset.corpus]
    counts = [int(c) for c in args.candidates.split(",") if c.strip()]
    setup = f"cache {args.cache_mb} MB" + (", one repeated candidate set" if args.repeat_candidates else "")
    result = BenchResult(
        "rerank",
        ["candidates", "p50_ms", "p95_ms", "mean_ms"],
        title=f"Rerank latency through the Rerank RPC (ms; {setup})",
        details={"cache_mb": args.cache_mb, "repeat_candidates": args.repeat_candidates},
    )
    for backend in _backends(args):
        progress(f"starting rerank with {backend}")
        rows = asyncio.run(
            bench.latency(
                backend,
                questions,
                passages,
                counts,
                args.iterations,
                args.cache_mb,
                args.repeat_candidates,
                args.cross_encoder_path,
                args.seed,
            )
        )
        result.details[backend] = rows
        for count, row in rows.items():
            result.add(
                backend,
                {"candidates": count, "p50_ms": row["p50_ms"], "p95_ms": row["p95_ms"], "mean_ms": row["mean_ms"]},
            )
    return result


def run(args: argparse.Namespace) -> list[BenchResult]:
    """Quality with ``--quality``, else latency."""
    return [run_quality(args) if args.quality else run_latency(args)]
