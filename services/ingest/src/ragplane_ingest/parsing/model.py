"""What a parser produces: the extracted text plus the segments (section and page spans) that structure it.

Every offset is a character offset into ``ParsedDocument.text``, the document's extracted text; chunks carry
``[char_start, char_end)`` into that same string, so a citation can always be mapped back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


class ParseError(Exception):
    """The document cannot be read (corrupt, encrypted, not the format it claims). ``reason`` is for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Segment:
    """A span of the text under one section path on one page; chunks never cross segments.

    ``heading_end`` is set when the segment opens with its heading: the offset where the heading ends.
    """

    start: int
    end: int
    section_path: tuple[str, ...] = ()
    page: int = 0
    heading_end: int | None = None


@dataclass(frozen=True)
class ParsedDocument:
    """The extracted text of one document and its structure."""

    text: str
    segments: tuple[Segment, ...]
    title: str = ""
    format: str = ""
    pages: int = 0

    def is_empty(self) -> bool:
        return not self.text.strip() or not self.segments


def normalize_newlines(text: str) -> str:
    """One newline convention, no NULs (they mean nothing in text and break downstream tools)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


@dataclass
class _Open:
    start: int
    path: tuple[str, ...]
    page: int
    heading_end: int | None = None


@dataclass
class TextBuilder:
    """Builds extracted text piece by piece while recording segment boundaries.

    Parsers of formats whose extracted text differs from the raw bytes (HTML, PDF, DOCX) write text through
    this builder and call ``begin`` at each heading or page so that segments are exact.
    """

    _parts: list[str] = field(default_factory=list)
    _length: int = 0
    _tail: str = ""
    _segments: list[Segment] = field(default_factory=list)
    _open: _Open | None = None

    @property
    def length(self) -> int:
        return self._length

    def begin(self, section_path: tuple[str, ...], page: int = 0) -> None:
        """Close the current segment and open a new one at the current position."""
        self._close()
        self._open = _Open(self._length, tuple(section_path), page)

    def mark_heading_end(self) -> None:
        """Record that the open segment's heading ends here."""
        if self._open is not None:
            self._open.heading_end = self._length

    def write(self, text: str) -> None:
        if not text:
            return
        if self._open is None:
            self._open = _Open(self._length, (), 0)
        self._parts.append(text)
        self._length += len(text)
        self._tail = (self._tail + text)[-2:]

    def write_inline(self, text: str) -> None:
        """Write running text, collapsing the whitespace around it as a browser would."""
        if not text:
            return
        if not self._tail or self._tail.endswith("\n") or self._tail.endswith(" "):
            text = text.lstrip(" ")
        self.write(text)

    def line_break(self) -> None:
        if self._tail and not self._tail.endswith("\n"):
            self._strip_trailing_spaces()
            self.write("\n")

    def paragraph_break(self) -> None:
        if not self._tail:
            return
        self._strip_trailing_spaces()
        if self._tail != "\n\n":
            self.write("\n" if self._tail.endswith("\n") else "\n\n")

    def _strip_trailing_spaces(self) -> None:
        while self._parts and self._parts[-1].endswith(" "):
            last = self._parts.pop()
            stripped = last.rstrip(" ")
            self._length -= len(last) - len(stripped)
            if stripped:
                self._parts.append(stripped)
            self._tail = "".join(self._parts[-2:])[-2:] if self._parts else ""

    def _close(self) -> None:
        current = self._open
        self._open = None
        if current is None:
            return
        self._segments.append(Segment(current.start, self._length, current.path, current.page, current.heading_end))

    def build(self, *, title: str = "", format: str = "", pages: int = 0) -> ParsedDocument:
        self._close()
        text = "".join(self._parts)
        return ParsedDocument(text, trim_segments(text, self._segments), title.strip(), format, pages)


def trim_segments(text: str, segments: list[Segment]) -> tuple[Segment, ...]:
    """Drop whitespace at both ends of each segment and drop segments with no text.

    str.lstrip/rstrip measure the runs in linear time (a regex ``\\s+$`` retries from every space of a run).
    """
    result = []
    for seg in segments:
        body = text[seg.start : seg.end]
        start = seg.start + (len(body) - len(body.lstrip()))
        end = seg.end - (len(body) - len(body.rstrip()))
        if end <= start:
            continue
        heading_end = seg.heading_end
        if heading_end is not None:
            heading_end = min(max(heading_end, start), end)
        result.append(Segment(start, end, seg.section_path, seg.page, heading_end))
    return tuple(result)


class HeadingStack:
    """Tracks the enclosing headings: a heading of level n closes every open heading of level >= n."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def push(self, level: int, title: str) -> tuple[str, ...]:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        return self.path

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)


def collapse_whitespace(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def markdown_table(rows: list[list[str]]) -> str:
    """Rows of cell texts as a Markdown table; the first row is the header."""
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    lines = []
    for index, row in enumerate(rows):
        cells = [collapse_whitespace(cell).replace("|", "\\|") for cell in row] + [""] * (width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
        if index == 0:
            lines.append("| " + " | ".join(["---"] * width) + " |")
    return "\n".join(lines)
