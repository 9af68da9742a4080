"""The rerank benchmark's quality helpers: BM25 candidates and ranking metrics, on tiny inputs."""

from __future__ import annotations

import pytest

from ragplane_rerank.bench import _Bm25, ranking_metrics

pytestmark = pytest.mark.unit


def test_ranking_metrics_score_the_position_of_the_one_relevant_item():
    rankings = [[7, 1, 2], [3, 4, 5, 6, 9, 8], [1, 2, 3]]
    metrics = ranking_metrics(rankings, gold=[7, 8, 0])
    # first query: rank 1; second: rank 6 (a hit@5 miss); third: not retrieved
    assert metrics == pytest.approx({"mrr@10": (1 + 1 / 6) / 3, "hit@1": 1 / 3, "hit@5": 1 / 3, "recall@k": 2 / 3})


def test_bm25_ranks_the_paragraph_sharing_the_rare_terms_first():
    texts = ["the river delta floods in spring", "the castle stands on a hill", "a river runs past the castle"]
    assert _Bm25(texts).top("when does the delta flood", 2)[0] == 0
    assert _Bm25(texts).top("castle hill", 3)[:1] == [1]
