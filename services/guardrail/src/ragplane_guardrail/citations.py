"""Citation validation: "[n]" markers in the answer and structured citations must point at a context passage.

Markers are read with the grammar the generator writes them in (``ragplane.runtime.citations``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.runtime.citations import find_markers
from ragplane_guardrail.verdict import CitationRef, Passage


@dataclass(frozen=True)
class InvalidCitation:
    """A passage number that matches no context passage; span is the marker's, (0, 0) for structured ones."""

    number: int
    start: int
    end: int
    reason: str


def validate(answer: str, passages: list[Passage], citations: list[CitationRef]) -> list[InvalidCitation]:
    """Citations that point outside the context.

    A marker number is invalid when no passage has that number. A structured citation is invalid when its
    passage number is outside the context, or when it names a chunk id that differs from that passage's.
    """
    numbers = {passage.number: passage for passage in passages}
    invalid: list[InvalidCitation] = []
    for start, end, cited in find_markers(answer):
        for number in cited:
            if number not in numbers:
                invalid.append(InvalidCitation(number, start, end, f"[{number}] cites no context passage"))
    for citation in citations:
        passage = numbers.get(citation.passage_number)
        if passage is None:
            invalid.append(
                InvalidCitation(
                    citation.passage_number, 0, 0, f"citation {citation.passage_number} is outside the context"
                )
            )
        elif citation.chunk_id and passage.chunk_id and citation.chunk_id != passage.chunk_id:
            invalid.append(
                InvalidCitation(
                    citation.passage_number,
                    0,
                    0,
                    f"citation {citation.passage_number} names another chunk than passage {citation.passage_number}",
                )
            )
    return invalid
