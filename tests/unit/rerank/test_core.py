"""Rerank ordering, thresholds and limits, with scripted scores (pure logic)."""

from __future__ import annotations

import pytest

from ragplane.runtime.errors import InvalidArgument
from ragplane_rerank.core import rerank
from ragplane_rerank.rerankers import Candidate, PassThroughReranker, retrieval_ranks

pytestmark = pytest.mark.unit


class Scripted:
    """Returns the scores it was given, in candidate order."""

    name = "scripted"

    def __init__(self, scores: list[float]) -> None:
        self.scores = scores

    def warm_up(self) -> None:
        return None

    async def score(self, query, candidates):
        return self.scores[: len(candidates)]


def cands(n: int) -> list[Candidate]:
    return [Candidate(text=f"t{i}", retrieval_rank=i + 1) for i in range(n)]


async def test_best_scores_come_first_and_top_n_cuts():
    ranked = await rerank(
        Scripted([0.1, 0.9, 0.5, 0.7]), "q", cands(4), top_n=2, score_threshold=None, max_candidates=200
    )
    assert [(r.index, r.score) for r in ranked] == [(1, 0.9), (3, 0.7)]


async def test_ties_keep_the_request_order():
    ranked = await rerank(
        Scripted([0.5, 0.8, 0.5, 0.8]), "q", cands(4), top_n=4, score_threshold=None, max_candidates=200
    )
    assert [r.index for r in ranked] == [1, 3, 0, 2]


async def test_threshold_drops_low_scores_even_within_top_n():
    ranked = await rerank(Scripted([0.2, 0.9, 0.4]), "q", cands(3), top_n=5, score_threshold=0.4, max_candidates=200)
    assert [r.index for r in ranked] == [1, 2]


async def test_no_candidates_gives_no_results():
    assert await rerank(Scripted([]), "q", [], top_n=5, score_threshold=None, max_candidates=200) == []


@pytest.mark.parametrize(
    ("query", "n", "top_n", "field"),
    [
        ("", 2, 5, "query"),
        ("q", 3, 5, "candidates"),
        ("q", 2, 0, "top_n"),
    ],
)
async def test_invalid_requests_name_the_field(query, n, top_n, field):
    with pytest.raises(InvalidArgument) as info:
        await rerank(Scripted([0.0] * n), query, cands(n), top_n=top_n, score_threshold=None, max_candidates=2)
    assert info.value.field == field


async def test_a_backend_returning_the_wrong_number_of_scores_is_an_error():
    with pytest.raises(RuntimeError, match="returned 1 scores for 2 candidates"):
        await rerank(Scripted([0.3]), "q", cands(2), top_n=5, score_threshold=None, max_candidates=200)


async def test_passthrough_keeps_the_retrieval_order():
    candidates = [Candidate("a", retrieval_rank=2), Candidate("b", retrieval_rank=1), Candidate("c", retrieval_rank=3)]
    ranked = await rerank(PassThroughReranker(), "q", candidates, top_n=3, score_threshold=None, max_candidates=200)
    assert [r.index for r in ranked] == [1, 0, 2]


def test_missing_retrieval_ranks_fall_back_to_the_position():
    assert retrieval_ranks([Candidate("a"), Candidate("b", retrieval_rank=7), Candidate("c")]) == [1, 7, 3]
