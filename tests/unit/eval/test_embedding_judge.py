"""The offline embedding judge on small hand-made cases: supported beats unsupported, relevant beats irrelevant."""

from __future__ import annotations

import pytest

from ragplane_eval.judge import EmbeddingJudge

pytestmark = pytest.mark.unit

QUESTION = "Which NFL team represented the AFC at Super Bowl 50?"
GOLD = (
    "Super Bowl 50 was an American football game to determine the champion of the National Football League "
    "(NFL) for the 2015 season. The American Football Conference (AFC) champion Denver Broncos defeated the "
    "National Football Conference (NFC) champion Carolina Panthers 24-10 to earn their third Super Bowl title."
)
OTHER = "Warsaw is the capital and largest city of Poland. It stands on the Vistula River in east-central Poland."


@pytest.fixture(scope="module")
def judge() -> EmbeddingJudge:
    judge = EmbeddingJudge()
    judge.embed(["warm up"])
    return judge


def test_a_supported_answer_is_faithful_and_an_invented_one_is_not(judge):
    supported = judge.score_sync(QUESTION, "Denver Broncos", [GOLD, OTHER])
    invented = judge.score_sync(QUESTION, "The New York Jets", [GOLD, OTHER])
    assert supported.faithfulness == 1.0 and supported.claims == 1
    assert invented.faithfulness == 0.0


def test_faithfulness_is_the_share_of_supported_sentences(judge):
    answer = (
        "The Denver Broncos represented the AFC and defeated the Carolina Panthers. "
        "The halftime show was performed by a choir of penguins on the Moon."
    )
    scores = judge.score_sync(QUESTION, answer, [GOLD])
    assert scores.claims == 2 and scores.supported_claims == 1 and scores.faithfulness == 0.5


def test_the_relevant_passage_counts_as_relevant_context_and_the_other_does_not(judge):
    scores = judge.score_sync(QUESTION, "Denver Broncos", [GOLD, OTHER])
    assert scores.context_relevance == 0.5
    assert judge.score_sync(QUESTION, "Denver Broncos", [OTHER]).context_relevance == 0.0


def test_an_answer_to_the_question_is_more_relevant_than_an_answer_to_another_one(judge):
    on_topic = judge.score_sync(QUESTION, "Denver Broncos", [GOLD])
    off_topic = judge.score_sync(QUESTION, "the Vistula River", [GOLD])
    assert on_topic.answer_relevance > off_topic.answer_relevance


def test_an_abstention_makes_no_claims_and_does_not_answer(judge):
    scores = judge.score_sync(QUESTION, "I don't know.", [GOLD])
    assert scores.faithfulness is None and scores.claims == 0
    assert scores.answer_relevance == 0.0


def test_without_context_only_answer_relevance_applies(judge):
    scores = judge.score_sync(QUESTION, "Denver Broncos", [])
    assert scores.faithfulness is None and scores.context_relevance is None
    assert scores.answer_relevance is not None


def test_the_settings_defaults_are_the_calibrated_constants():
    from ragplane.runtime.settings import load_settings
    from ragplane_eval.config import Settings
    from ragplane_eval.judge import EmbeddingJudgeConfig

    settings = load_settings(Settings, {})
    config = EmbeddingJudgeConfig()
    assert (settings.support_threshold, settings.context_threshold, settings.relevance_threshold) == (
        config.support_threshold,
        config.context_threshold,
        config.relevance_threshold,
    )
