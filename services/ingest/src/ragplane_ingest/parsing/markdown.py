"""Markdown: the source text is kept as is; ATX and Setext headings open sections.

Headings inside fenced code blocks are code, not headings. A YAML front matter block is left out of every
segment; its ``title:`` becomes the document title.
"""

from __future__ import annotations

import re

from ragplane_ingest.parsing.model import HeadingStack, ParsedDocument, Segment, trim_segments
from ragplane_ingest.parsing.text import decode_text

# Only the opening hashes are matched by a regex; the rest of the line is cut with str methods, because a lazy
# ``.*?`` followed by optional closing hashes retries from every character (quadratic on a long line).
_ATX_OPEN = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_OR_QUOTE = re.compile(r"^ {0,3}(?:[-*+>]|\d+[.)])(?:[ \t]|$)")
# Link text and target exclude their opening bracket too, so each scan stops at the next candidate (linear).
_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_FRONT_MATTER_TITLE = re.compile(r"^title:(.*)$", re.MULTILINE)


def clean_heading(raw: str) -> str:
    """Heading text without link targets and emphasis markers."""
    text = _LINK.sub(r"\1", raw)
    text = _EMPHASIS.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def atx_heading(line: str) -> tuple[int, str] | None:
    """(level, raw text) of an ATX heading line (``## Title ##``), else None."""
    match = _ATX_OPEN.match(line)
    if match is None:
        return None
    rest = line[match.end() :].strip(" \t")
    unclosed = rest.rstrip("#")
    if not unclosed:
        rest = ""
    elif unclosed[-1] in " \t":
        rest = unclosed.rstrip(" \t")
    return len(match.group(1)), rest


def _front_matter(text: str) -> tuple[int, str]:
    """(offset where the content starts, title) of a leading YAML front matter block, if any."""
    if not text.startswith("---\n"):
        return 0, ""
    match = re.search(r"^(?:---|\.\.\.)[ \t]*$", text[4:65536], re.MULTILINE)
    if match is None:
        return 0, ""
    block = text[4 : 4 + match.start()]
    end = 4 + match.end()
    title_match = _FRONT_MATTER_TITLE.search(block)
    title = title_match.group(1).strip(" \t").strip("'\"") if title_match else ""
    return end, title


def parse_markdown(data: bytes, charset: str = "") -> ParsedDocument:
    """Sections from ATX (``# Title``) and Setext (underlined) headings; the title is the first level-1 heading."""
    text = decode_text(data, charset)
    content_start, title = _front_matter(text)
    lines = text[content_start:].split("\n")
    headings: list[tuple[int, int, int, str]] = []  # (start, heading_end, level, title)
    offset = content_start
    fence: str | None = None
    previous_blank = True
    index = 0
    while index < len(lines):
        line = lines[index]
        line_end = offset + len(line)
        next_offset = line_end + 1
        if fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                fence = None
            previous_blank = False
        elif (match := _FENCE.match(line)) is not None:
            fence = match.group(1)
            previous_blank = False
        elif (atx := atx_heading(line)) is not None:
            headings.append((offset, line_end, atx[0], clean_heading(atx[1])))
            previous_blank = True
        elif (
            line.strip()
            and previous_blank
            and index + 1 < len(lines)
            and not _LIST_OR_QUOTE.match(line)
            and (underline := _SETEXT.match(lines[index + 1])) is not None
        ):
            level = 1 if underline.group(1).startswith("=") else 2
            underline_end = next_offset + len(lines[index + 1])
            headings.append((offset, underline_end, level, clean_heading(line)))
            offset = underline_end + 1
            index += 2
            previous_blank = True
            continue
        else:
            previous_blank = not line.strip()
        offset = next_offset
        index += 1

    segments: list[Segment] = []
    stack = HeadingStack()
    first_start = headings[0][0] if headings else len(text)
    segments.append(Segment(content_start, first_start))
    for number, (start, heading_end, level, heading) in enumerate(headings):
        end = headings[number + 1][0] if number + 1 < len(headings) else len(text)
        path = stack.push(level, heading) if heading else stack.path
        segments.append(Segment(start, end, path, 0, heading_end))
        if not title and level == 1 and heading:
            title = heading
    return ParsedDocument(text, trim_segments(text, segments), title, "markdown")
