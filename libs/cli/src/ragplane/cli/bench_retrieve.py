"""``ragplane bench retrieve``: search latency and HNSW recall of the embedded store at 100k chunks.

How the corpus is made: a few thousand real passages (SQuAD v1.1 dev when available, else generated
sentences) are embedded with the real embedder (MiniLM windows + BM25 sparse); the N indexed chunks are
derived from them cheaply: chunk i takes passage p = i mod P and a random partner q, dense =
normalise(e_p + 0.5 e_q + 0.05 noise) (so vectors stay in the low-rank manifold of real embeddings, the
case HNSW is built for, unlike random vectors) and sparse = p's BM25 terms plus q's at half weight.
Queries are real questions (SQuAD) or passage sentences, embedded as queries.

Reported: upsert rate, optimize time, store-level p50/p95 of dense / sparse / hybrid (before and after
optimize), per-tenant vs global IDF, recall@10 of HNSW against exact search, the same through the Search
RPC on loopback, RPC p95 while a writer upserts, and qdrant-client's local mode at a smaller size. The
measurement is ``ragplane_retrieve.bench``; this command loads and embeds the passages (``ragplane_embed``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from ragplane.cli.cmd_bench import service_module
from ragplane.cli.output import console
from ragplane.runtime.bench import BenchResult


def _squad_path() -> str | None:
    """$RAGPLANE_SQUAD_PATH, else the project's dataset helper (downloads and caches it once)."""
    path = os.environ.get("RAGPLANE_SQUAD_PATH", "")
    if path and Path(path).is_file():
        return path
    try:
        from ragplane.cli import datasets

        return str(datasets.squad_dev_path(progress=lambda msg: console.print(msg)))
    except Exception as exc:  # noqa: BLE001 - no copy and no download: fall back to generated text
        console.print(f"SQuAD v1.1 dev unavailable ({exc}); using generated passages")
        return None


def load_passages(limit: int, seed: int = 0) -> tuple[list[str], list[str], str]:
    """(passages, questions, source): SQuAD v1.1 dev if a copy can be had, else generated text."""
    for path in (_squad_path(),):
        if path and Path(path).is_file():
            data = json.loads(Path(path).read_text())["data"]
            passages, questions = [], []
            for article in data:
                for paragraph in article["paragraphs"]:
                    passages.append(paragraph["context"])
                    questions.extend(q["question"] for q in paragraph["qas"])
            rng = random.Random(seed)
            rng.shuffle(questions)
            return passages[:limit], questions, f"squad-v1.1-dev ({path})"
    rng = random.Random(seed)
    words = (
        "river mountain engine protocol harvest theory market signal castle orbit reactor archive "
        "planet library vaccine glacier treaty circuit festival dynasty satellite enzyme canal opera"
    ).split()
    passages = [" ".join(rng.choice(words) for _ in range(rng.randint(60, 140))) + "." for _ in range(limit)]
    questions = [" ".join(rng.choice(words) for _ in range(8)) + "?" for _ in range(limit)]
    return passages, questions, "generated"


HELP = "search latency and recall of the embedded store"
COLUMNS = ["mode", "p50_ms", "p95_ms"]
_SECTIONS = (
    ("store, before optimize", "store_before_optimize"),
    ("store, optimized", "store"),
    ("Search RPC (loopback)", "rpc"),
    ("RPC + writer, unthrottled", "rpc_under_concurrent_writer"),
    ("RPC + writer, 200 points/s", "rpc_under_writer_200_points_per_s"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The retrieve benchmark's flags."""
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks to index (default 100000)")
    parser.add_argument("--passages", type=int, default=2000, help="real passages to embed (default 2000)")
    parser.add_argument("--queries", type=int, default=300, help="queries per mode (default 300)")
    parser.add_argument("--top-k", type=int, default=20, help="results per search (default 20)")
    parser.add_argument(
        "--compare-local",
        type=int,
        default=10_000,
        help="also compare qdrant-client's local mode at this many points (0: skip)",
    )
    parser.add_argument("--path", default=None, help="store folder to keep (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Embed the passages and questions, then run the store benchmark (and the local-mode comparison)."""
    bench = service_module("ragplane_retrieve.bench")
    embedder = service_module("ragplane_embed.bench").started_embedder()
    passages, questions, source = load_passages(args.passages, args.seed)
    started = time.perf_counter()
    docs = embedder.embed(passages, query=False, source="bench")
    embed_s = time.perf_counter() - started
    embedded_questions = embedder.embed(questions[: args.queries], query=True, source="bench")
    points_fn, queries = bench.build_corpus(docs, embedded_questions, passages, args.top_k, args.seed)
    results: dict[str, Any] = {
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "chunks": args.chunks,
        "passages": len(passages),
        "passage_source": source,
        "queries": len(queries["dense"]),
        "top_k": args.top_k,
        "passage_embed_s": round(embed_s, 1),
    }
    results.update(
        bench.store_benchmark(
            points_fn, queries, args.chunks, Path(args.path) if args.path else None, progress=console.print
        )
    )
    if args.compare_local:
        console.print(f"comparing with qdrant-client local mode at {args.compare_local} points")
        results["store_choice"] = bench.local_mode_comparison(points_fn, queries, args.compare_local)
    # The machine is shared: the load says how much of it the benchmark really had.
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def _add_rows(result: BenchResult, results: dict[str, Any]) -> None:
    for label, key in _SECTIONS:
        for mode, value in results.get(key, {}).items():
            if isinstance(value, dict):
                result.add(label, {"mode": mode, "p50_ms": value["p50_ms"], "p95_ms": value["p95_ms"]})
    choice = results.get("store_choice", {})
    for name, value in choice.items():
        if isinstance(value, dict):
            for mode in (m for m in ("dense", "sparse", "hybrid") if m in value):
                result.add(
                    f"{name} @ {choice['points']}",
                    {"mode": mode, "p50_ms": value[mode]["p50_ms"], "p95_ms": value[mode]["p95_ms"]},
                )


def run(args: argparse.Namespace) -> list[BenchResult]:
    """One table: p50/p95 per place (store, RPC, RPC with a writer, store choice) and mode."""
    results = measure(args)
    result = BenchResult(
        "retrieve",
        COLUMNS,
        title=f"retrieval latency at {results['chunks']} chunks (top_k={results['top_k']})",
        details=results,
    )
    _add_rows(result, results)
    result.notes = (
        f"recall@10 HNSW vs exact: {results['recall_at_10_hnsw_vs_exact']}; optimize "
        f"{results['optimize_s']} s; upsert {results['upsert_points_per_s']} points/s; "
        f"passages: {results['passage_source']}"
    )
    return [result]
