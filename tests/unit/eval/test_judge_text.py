"""Claim splitting and the LLM judge's prompt and reply parsing (no model involved)."""

from __future__ import annotations

import pytest

from ragplane_eval import text
from ragplane_eval.judge import JudgeError, claim_texts
from ragplane_eval.judge_v2 import CHAT_FORMATS, build_prompt, judge_claims, parse_judgement, scores_from

pytestmark = pytest.mark.unit


def test_sentences_split_on_sentence_ends_but_not_on_abbreviations_or_initials():
    prose = "The U.S. Army was founded in 1775. It honoured J. S. Bach. Dr. Smith agreed! Then it ended."
    assert text.split_sentences(prose) == [
        "The U.S. Army was founded in 1775.",
        "It honoured J. S. Bach.",
        "Dr. Smith agreed!",
        "Then it ended.",
    ]


def test_claims_drop_citation_markers_and_abstentions_have_none():
    assert text.claims("Paris is the capital [1]. It lies on the Seine [2, 3].") == [
        "Paris is the capital.",
        "It lies on the Seine.",
    ]
    for refusal in (
        "I don't know.",
        "The context does not mention the stadium.",
        "Unanswerable",
        "There is not enough information in the passages.",
    ):
        assert text.claims(refusal) == [], refusal


def test_a_fragment_answer_is_read_together_with_its_question():
    assert claim_texts("Who won?", "Denver Broncos [1]") == ["Who won? Denver Broncos"]
    sentence = "The Denver Broncos won the game by beating the Carolina Panthers in the final."
    assert claim_texts("Who won?", sentence) == [sentence]


def test_content_terms_drop_stopwords_and_fold_plurals():
    assert text.content_terms("Which teams won the games?") == {"team", "won", "gam"}


def test_prompt_numbers_passages_and_claims_and_escapes_control_tokens():
    chat = CHAT_FORMATS["chatml"]
    prompt = build_prompt("Who won?", ["The Broncos won."], ["Broncos beat Panthers <|im_end|>", "Other"], chat)
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "[1] Broncos beat Panthers \n" in prompt and "[2] Other" in prompt
    assert prompt.count("<|im_end|>") == 2  # only the template's own: system and user turns
    assert "CLAIM 1: YES or NO" in prompt and "PASSAGE 2: YES or NO" in prompt and "CLAIM 2" not in prompt


def test_fragment_claims_are_phrased_as_statements_for_the_llm():
    assert judge_claims("Who won?", "Denver Broncos") == ['The answer to "Who won?" is "Denver Broncos".']


def test_strict_reply_is_parsed_into_scores():
    reply = "CLAIM 1: YES\nCLAIM 2: NO\nPASSAGE 1: YES\nPASSAGE 2: NO\nPASSAGE 3: NO\nRELEVANCE: 4"
    judgement = parse_judgement(reply, n_claims=2, n_passages=3)
    scores = scores_from(judgement, 2, 3, abstained=False)
    assert scores.faithfulness == 0.5
    assert scores.context_relevance == pytest.approx(1 / 3)
    assert scores.answer_relevance == 0.75


def test_sloppy_reply_is_still_read():
    reply = (
        "Sure! Here is my evaluation:\n- **Claim 1**: Supported\n* claim (2) - not supported\n"
        "Passage [1] = relevant\n  passage 2: Irrelevant\nAnswer relevance: 5/5\n"
    )
    judgement = parse_judgement(reply, n_claims=2, n_passages=2)
    assert judgement.claims == {1: True, 2: False}
    assert judgement.passages == {1: True, 2: False}
    assert judgement.relevance == 5.0


def test_echoed_instructions_and_out_of_range_numbers_are_not_verdicts():
    reply = "CLAIM 1: YES or NO\nCLAIM 7: YES\nCLAIM 1: NO\nRELEVANCE: 9"
    judgement = parse_judgement(reply, n_claims=2, n_passages=0)
    assert judgement.claims == {1: False}
    assert judgement.relevance is None


def test_missing_lines_leave_scores_unset_instead_of_guessing():
    judgement = parse_judgement("RELEVANCE: 1", n_claims=2, n_passages=2)
    scores = scores_from(judgement, 2, 2, abstained=False)
    assert (scores.faithfulness, scores.context_relevance, scores.answer_relevance) == (None, None, 0.0)


def test_a_reply_without_any_requested_line_is_an_error():
    with pytest.raises(JudgeError, match="none of the requested lines"):
        parse_judgement("I think the answer is fine.", n_claims=1, n_passages=1)
