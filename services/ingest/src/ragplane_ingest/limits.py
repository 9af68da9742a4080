"""Ingest's caps on what one document may hold, so that no upload costs memory out of proportion to its size.

Header fields are checked before the bytes arrive; what the document itself brings (its title, section headings,
words, chunk count) after parsing, before any chunk is built. Each refusal is INVALID_ARGUMENT naming the field
or the setting that holds the limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ragplane.runtime.errors import InvalidArgument
from ragplane_ingest.errors import UnreadableDocument
from ragplane_ingest.parsing import ParsedDocument, ZipLimits

if TYPE_CHECKING:  # the chunker uses these limits and stays free of the service's settings
    from ragplane_ingest.config import Settings

_WORD = re.compile(r"\S+")


class OverLimit(UnreadableDocument):
    """The document is over one of ingest's limits; ``reason`` names what and the setting."""

    def __init__(self, source: str, reason: str) -> None:
        InvalidArgument.__init__(self, "content", f"document {source!r}: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class DocumentLimits:
    """The caps, in characters unless named otherwise (the defaults are the settings' defaults)."""

    max_title_chars: int = 1024
    max_source_chars: int = 1024
    max_section_chars: int = 1024
    max_word_chars: int = 10_000
    max_chunks: int = 20_000
    zip: ZipLimits = field(default_factory=ZipLimits)

    @classmethod
    def from_settings(cls, settings: Settings) -> DocumentLimits:
        return cls(
            settings.max_title_chars,
            settings.max_source_chars,
            settings.max_section_chars,
            settings.max_word_chars,
            settings.max_chunks_per_document,
            ZipLimits(settings.max_unzipped_bytes, settings.max_zip_ratio),
        )


def check_field(name: str, value: str, limit: int) -> None:
    """Raises InvalidArgument naming ``name`` when ``value`` is longer than ``limit`` characters."""
    if len(value) > limit:
        raise InvalidArgument(name, f"must be at most {limit} characters, but got {len(value)}")


def check_document(source: str, parsed: ParsedDocument, limits: DocumentLimits) -> None:
    """Refuse a parsed document whose title, section paths or words are over the limits.

    Raises:
        OverLimit: naming what is too long and the setting.
    """
    _check_length(source, "title", len(parsed.title), limits.max_title_chars, "RAGPLANE_INGEST_MAX_TITLE_CHARS")
    longest_path = max((sum(map(len, seg.section_path)) for seg in parsed.segments), default=0)
    _check_length(source, "section path", longest_path, limits.max_section_chars, "RAGPLANE_INGEST_MAX_SECTION_CHARS")
    # One pass over the words (a regex for "more than n non-spaces" would rescan every shorter run n times).
    longest_word = max((match.end() - match.start() for match in _WORD.finditer(parsed.text)), default=0)
    _check_length(source, "word", longest_word, limits.max_word_chars, "RAGPLANE_INGEST_MAX_WORD_CHARS")


def too_many_chunks(source: str, limit: int) -> OverLimit:
    return OverLimit(source, f"makes more than {limit} chunks (RAGPLANE_INGEST_MAX_CHUNKS_PER_DOCUMENT)")


def _check_length(source: str, what: str, size: int, limit: int, variable: str) -> None:
    if size > limit:
        raise OverLimit(source, f"{what} is {size} characters, over the limit of {limit} ({variable})")
