"""Citation markers mapped to the prompt's passages; numbers outside the context are dropped and counted."""

from __future__ import annotations

import pytest

from ragplane_generate.citations import extract_citations
from ragplane_generate.prompt import Passage

pytestmark = pytest.mark.unit

PASSAGES = [
    Passage("c1", "one", doc_id="d1", page=2, title="T1", source="s1.pdf", section_path=("A", "B")),
    Passage("c2", "two", doc_id="d2"),
    Passage("c3", "three", doc_id="d3"),
]


def test_markers_map_to_chunks_with_provenance_in_order_of_first_use():
    result = extract_citations("Paris is big [2]. It is old [1][2].", PASSAGES)
    assert [c.passage_number for c in result.citations] == [2, 1]
    first = result.citations[1]
    assert (first.chunk_id, first.doc_id, first.page, first.source, first.section_path, first.title) == (
        "c1",
        "d1",
        2,
        "s1.pdf",
        ("A", "B"),
        "T1",
    )
    assert result.dropped == []
    assert result.text == "Paris is big [2]. It is old [1][2]."


def test_numbers_outside_the_context_are_dropped_from_text_and_reported():
    result = extract_citations("Fact [4]. Other [2, 7]. More [9][1].", PASSAGES)
    assert [c.passage_number for c in result.citations] == [2, 1]
    assert result.dropped == [4, 7, 9]
    assert result.text == "Fact. Other [2]. More [1]."


def test_comma_lists_and_short_ranges_are_understood():
    result = extract_citations("See [1, 3] and [1-2].", PASSAGES)
    assert [c.passage_number for c in result.citations] == [1, 3, 2]


def test_no_passages_means_every_citation_is_dropped():
    result = extract_citations("Answer [1].", [])
    assert result.citations == [] and result.dropped == [1]
    assert result.text == "Answer."


def test_text_without_markers_is_unchanged():
    result = extract_citations("The passages do not contain the answer.", PASSAGES)
    assert result.citations == [] and result.dropped == []
    assert result.text == "The passages do not contain the answer."


def test_bracketed_words_and_years_in_text_are_not_citations():
    result = extract_citations("In [the] year 1990 [citation needed] it grew [1].", PASSAGES)
    assert [c.passage_number for c in result.citations] == [1]
    assert "[the]" in result.text
