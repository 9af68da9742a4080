"""Citation validation: "[n]" markers in the answer and structured citations must point at a context passage."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragplane_guardrail.verdict import CitationRef, Passage

_MARKER = re.compile(r"\[(\d+(?:\s*(?:,|;|-|–)\s*\d+)*)\]")
MAX_RANGE = 50


@dataclass(frozen=True)
class InvalidCitation:
    """A passage number that matches no context passage; span is the marker's, (0, 0) for structured ones."""

    number: int
    start: int
    end: int
    reason: str


def markers(answer: str) -> list[tuple[int, int, list[int]]]:
    """``(start, end, numbers)`` for every "[1]", "[1, 3]" or "[2-4]" marker in ``answer``."""
    found = []
    for match in _MARKER.finditer(answer):
        numbers: list[int] = []
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            bounds = re.split(r"\s*[-–]\s*", part)
            if len(bounds) == 2 and int(bounds[0]) <= int(bounds[1]) and int(bounds[1]) - int(bounds[0]) < MAX_RANGE:
                numbers.extend(range(int(bounds[0]), int(bounds[1]) + 1))
            else:
                numbers.extend(int(b) for b in bounds)
        found.append((match.start(), match.end(), numbers))
    return found


def validate(answer: str, passages: list[Passage], citations: list[CitationRef]) -> list[InvalidCitation]:
    """Citations that point outside the context.

    A marker number is invalid when no passage has that number. A structured citation is invalid when its
    passage number is outside the context, or when it names a chunk id that differs from that passage's.
    """
    numbers = {passage.number: passage for passage in passages}
    invalid: list[InvalidCitation] = []
    for start, end, cited in markers(answer):
        for number in cited:
            if number not in numbers:
                invalid.append(InvalidCitation(number, start, end, f"[{number}] cites no context passage"))
    for citation in citations:
        passage = numbers.get(citation.passage_number)
        if passage is None:
            invalid.append(InvalidCitation(citation.passage_number, 0, 0,
                                           f"citation {citation.passage_number} is outside the context"))
        elif citation.chunk_id and passage.chunk_id and citation.chunk_id != passage.chunk_id:
            invalid.append(InvalidCitation(citation.passage_number, 0, 0,
                                           f"citation {citation.passage_number} names another chunk than passage "
                                           f"{citation.passage_number}"))
    return invalid
