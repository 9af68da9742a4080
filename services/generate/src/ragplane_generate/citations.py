"""Citations: ``[n]`` markers in an answer mapped to the passages that were in the prompt.

Markers follow the grammar of ``ragplane.runtime.citations`` (``[2]``, ``[1][3]``, ``[1, 3]``, ``[1-3]``). A number
outside 1..len(passages) is dropped: removed from the answer text and reported in ``dropped``, so that an answer never
points at a passage the model did not see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ragplane.runtime.citations import Marker, replace_markers
from ragplane_generate.prompt import Passage


@dataclass(frozen=True)
class Citation:
    """A cited passage, by its number in the prompt."""

    passage_number: int
    chunk_id: str
    doc_id: str
    page: int
    source: str
    section_path: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class CitationResult:
    """The answer text with invalid markers removed, the valid citations in order of first use, and the
    numbers that were dropped (in order of first use)."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


def extract_citations(text: str, passages: list[Passage]) -> CitationResult:
    """Map ``[n]`` markers in ``text`` to ``passages`` (passage n is ``passages[n - 1]``).

    Args:
        text: the model's answer.
        passages: the passages in the prompt, in their numbered order.

    Returns:
        Cleaned text, citations and dropped numbers.
    """
    cited: dict[int, Citation] = {}
    dropped: list[int] = []

    def rewrite(marker: Marker) -> str:
        numbers = marker.numbers
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        for number in numbers:
            if number in valid:
                if number not in cited:
                    passage = passages[number - 1]
                    cited[number] = Citation(
                        number,
                        passage.chunk_id,
                        passage.doc_id,
                        passage.page,
                        passage.source,
                        passage.section_path,
                        passage.title,
                    )
            elif number not in dropped:
                dropped.append(number)
        if len(valid) == len(numbers):
            return text[marker.start : marker.end]
        return "".join(f"[{n}]" for n in dict.fromkeys(valid))

    cleaned = replace_markers(text, rewrite)
    if not dropped:
        return CitationResult(text.strip(), list(cited.values()), [])
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return CitationResult(cleaned, list(cited.values()), dropped)
