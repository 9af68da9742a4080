"""Retrieval and answer metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from ragplane_eval import scoring

pytestmark = pytest.mark.unit

RANKED = ["d3", "d1", "d7", "d2", "d9"]


def test_hit_at_k_counts_a_relevant_document_within_the_cutoff_only():
    assert scoring.hit_at_k(RANKED, {"d1"}, 1) == 0.0
    assert scoring.hit_at_k(RANKED, {"d1"}, 2) == 1.0
    assert scoring.hit_at_k(RANKED, {"d42"}, 5) == 0.0


def test_recall_at_k_is_the_share_of_relevant_documents_found():
    # relevant d1 (rank 2), d2 (rank 4), d8 (absent): top-2 finds 1 of 3, top-5 finds 2 of 3.
    assert scoring.recall_at_k(RANKED, {"d1", "d2", "d8"}, 2) == pytest.approx(1 / 3)
    assert scoring.recall_at_k(RANKED, {"d1", "d2", "d8"}, 5) == pytest.approx(2 / 3)
    assert scoring.recall_at_k(RANKED, set(), 5) == 0.0


def test_precision_at_k_divides_by_k_even_for_a_short_list():
    assert scoring.precision_at_k(RANKED, {"d1", "d2"}, 5) == pytest.approx(2 / 5)
    assert scoring.precision_at_k(["d1"], {"d1"}, 5) == pytest.approx(1 / 5)


def test_mrr_at_10_is_the_reciprocal_rank_of_the_first_relevant_document():
    assert scoring.mrr_at_k(RANKED, {"d7", "d9"}) == pytest.approx(1 / 3)
    assert scoring.mrr_at_k(RANKED, {"d3"}) == 1.0
    late = [f"x{i}" for i in range(10)] + ["d1"]
    assert scoring.mrr_at_k(late, {"d1"}) == 0.0  # rank 11 is past the cutoff


def test_ndcg_at_10_matches_a_hand_computed_value():
    # relevant at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal = 1/log2(2) + 1/log2(3).
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert scoring.ndcg_at_k(RANKED, {"d1", "d2"}) == pytest.approx(expected)
    assert expected == pytest.approx(0.6509, abs=1e-4)
    assert scoring.ndcg_at_k(RANKED, {"d3"}) == 1.0
    assert scoring.ndcg_at_k(RANKED, {"zz"}) == 0.0


def test_ndcg_ideal_is_capped_at_k_relevant_documents():
    many = {f"d{i}" for i in range(30)}
    ranked = [f"d{i}" for i in range(10)]
    assert scoring.ndcg_at_k(ranked, many, 10) == pytest.approx(1.0)


def test_cutoff_must_be_positive():
    with pytest.raises(ValueError, match="k must be > 0, but got 0"):
        scoring.hit_at_k(RANKED, {"d1"}, 0)


def test_dedupe_keeps_each_document_at_its_best_rank():
    assert scoring.dedupe(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("The Denver Broncos!", "denver broncos"),
        ("  an   Apple,  a pear ", "apple pear"),
        ("Theory of the case", "theory of case"),  # "the" inside a word stays
        ("U.S. Army", "us army"),
    ],
)
def test_squad_normalisation_lowercases_and_strips_punctuation_articles_and_spaces(raw, normalized):
    assert scoring.normalize_answer(raw) == normalized


def test_exact_match_takes_the_best_gold_answer():
    assert scoring.exact_match("the Denver Broncos", ["Broncos", "Denver Broncos"]) == 1.0
    assert scoring.exact_match("Denver", ["Denver Broncos"]) == 0.0
    assert scoring.exact_match("anything", []) == 0.0


def test_token_f1_matches_a_hand_computed_value():
    # prediction "denver broncos team" vs gold "denver broncos": overlap 2, P = 2/3, R = 1 -> F1 = 0.8.
    assert scoring.token_f1("Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)
    # best of the golds: vs "broncos" P = 1/3, R = 1 -> 0.5; vs "carolina panthers" 0.
    assert scoring.token_f1("Denver Broncos team", ["Broncos", "Carolina Panthers"]) == pytest.approx(0.5)
    assert scoring.token_f1("", ["x"]) == 0.0


def test_token_f1_counts_repeated_tokens_once_per_match():
    # prediction "x y y" vs gold "y z": overlap min(2, 1) = 1, P = 1/3, R = 1/2.
    assert scoring.token_f1("x y y", ["y z"]) == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_retrieval_scores_names_every_metric():
    scores = scoring.retrieval_scores(RANKED, ["d1"])
    assert list(scores) == list(scoring.RETRIEVAL_METRICS)
    assert scores["hit@1"] == 0.0 and scores["hit@5"] == 1.0 and scores["mrr@10"] == 0.5


def test_percentile_interpolates_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0]
    assert scoring.percentile(values, 50) == pytest.approx(25.0)
    assert scoring.percentile(values, 95) == pytest.approx(38.5)
    assert scoring.percentile([], 50) is None


def test_mean_of_nothing_is_absent_not_zero():
    assert scoring.mean([]) is None
    assert scoring.mean([1.0, 0.0]) == 0.5


def test_bootstrap_interval_contains_the_mean_and_is_reproducible():
    values = [1.0] * 60 + [0.0] * 40
    low, high = scoring.bootstrap_ci(values, seed=3)
    assert low < 0.6 < high
    assert (low, high) == scoring.bootstrap_ci(values, seed=3)
    assert 0.45 < low and high < 0.75
    assert scoring.bootstrap_ci([1.0]) is None
