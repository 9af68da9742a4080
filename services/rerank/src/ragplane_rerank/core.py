"""Rerank logic: validate, score, order (stable), threshold, cut to top_n. No gRPC types here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragplane.runtime.errors import InvalidArgument
from ragplane_rerank.rerankers import Candidate, Reranker


@dataclass(frozen=True)
class Ranked:
    """A candidate's position in the request and its rerank score."""

    index: int
    score: float


async def rerank(
    reranker: Reranker,
    query: str,
    candidates: Sequence[Candidate],
    top_n: int,
    score_threshold: float | None,
    max_candidates: int,
) -> list[Ranked]:
    """Score ``candidates`` for ``query`` and return the best ``top_n``, best first.

    Ties keep the request order. Candidates scoring below ``score_threshold`` are dropped.

    Args:
        reranker: the backend.
        query: the user's question.
        candidates: retrieved chunks, usually in retrieval order.
        top_n: how many to keep (> 0).
        score_threshold: minimum score, or None.
        max_candidates: the most candidates one request may carry.

    Raises:
        InvalidArgument: empty query, too many candidates, or a non-positive top_n.
    """
    if not query.strip():
        raise InvalidArgument("query", "must not be empty")
    if len(candidates) > max_candidates:
        raise InvalidArgument("candidates", f"at most {max_candidates} allowed, but got {len(candidates)}")
    if top_n <= 0:
        raise InvalidArgument("top_n", f"must be > 0, but got {top_n}")
    if not candidates:
        return []
    scores = await reranker.score(query, candidates)
    if len(scores) != len(candidates):
        raise RuntimeError(f"{reranker.name} returned {len(scores)} scores for {len(candidates)} candidates")
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    ranked = [Ranked(i, scores[i]) for i in order if score_threshold is None or scores[i] >= score_threshold]
    return ranked[:top_n]
