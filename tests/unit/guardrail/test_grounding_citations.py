"""Grounding support scores and citation validation."""

from __future__ import annotations

import pytest

from ragplane_guardrail.citations import validate
from ragplane_guardrail.grounding import Grounding, content_terms
from ragplane_guardrail.verdict import CitationRef, Passage

pytestmark = pytest.mark.unit

CONTEXT = [
    "Employees receive 25 vacation days per year. Unused days can be carried over until March 31.",
    "The Berlin office opens at 8 am on weekdays.",
]


def _supports(answer: str, passages=CONTEXT) -> list[tuple[str, float, bool]]:
    return [(answer[s.start : s.end], s.support, s.assessed) for s in Grounding().assess(answer, passages, 0.55)]


def test_content_terms_drop_stopwords_and_citations_and_stem_lightly():
    assert content_terms("The offices are opening [2] in 2024") == ["office", "open", "2024"]


def test_sentence_copied_from_a_passage_is_fully_supported():
    assert _supports("The Berlin office opens at 8 am on weekdays.")[0][1] == 1.0


def test_sentence_with_a_wrong_number_loses_support():
    right = _supports("Employees receive 25 vacation days.")[0][1]
    wrong = _supports("Employees receive 40 vacation days.")[0][1]
    assert right == 1.0 and wrong < 0.55


def test_refusals_and_fragments_are_not_assessed():
    assert [a for _, _, a in _supports("I don't know. Sure.")] == [False, False]


def test_without_passages_every_claim_is_unsupported():
    assert _supports("Employees receive 25 vacation days.", passages=[])[0][1] == 0.0


def test_citations_outside_the_context_are_invalid():
    passages = [Passage(1, "a", "c1"), Passage(2, "b", "c2")]
    invalid = validate("See [1] and [3].", passages, [CitationRef(2, "c2"), CitationRef(5), CitationRef(1, "zz")])
    assert sorted(c.number for c in invalid) == [1, 3, 5]
    marker = next(c for c in invalid if c.number == 3)
    assert "See [1] and [3]."[marker.start : marker.end] == "[3]"
