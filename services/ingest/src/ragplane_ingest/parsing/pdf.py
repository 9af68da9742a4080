"""PDF (pypdf): text per page, page numbers kept; the outline (bookmarks), when present, gives sections.

An outline entry opens its section where its title appears on its page (else at the start of that page).
Encrypted PDFs that need a password, PDFs that pypdf cannot read and PDFs with more pages than the cap fail
with the reason.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Any

from ragplane_ingest.parsing.model import HeadingStack, ParsedDocument, ParseError, TextBuilder, normalize_newlines

# Each page costs time and memory whatever its size in the file (a 1.5 MB PDF holds 5,000 pages).
DEFAULT_MAX_PAGES = 2000


@dataclass(frozen=True)
class _Entry:
    page: int  # zero-based
    level: int
    title: str


def _outline(reader: Any) -> list[_Entry]:
    """Outline entries in document order; an unreadable outline is ignored (it is optional)."""
    entries: list[_Entry] = []

    def walk(items: Any, level: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, level + 1)
                continue
            title = re.sub(r"\s+", " ", str(getattr(item, "title", "") or "")).strip()
            page = reader.get_destination_page_number(item)
            if title and page is not None and page >= 0:
                entries.append(_Entry(page, level, title))

    try:
        walk(reader.outline, 1)
    except Exception:  # noqa: BLE001 - a broken outline must not fail an otherwise readable document
        return []
    return sorted(entries, key=lambda e: e.page)  # stable: document order within a page


def _title_pattern(title: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in title.split()]
    return re.compile(r"\s+".join(words), re.IGNORECASE)


def parse_pdf(data: bytes, max_pages: int = DEFAULT_MAX_PAGES) -> ParsedDocument:
    """Extract text page by page.

    Raises:
        ParseError: "encrypted PDF" when a password is needed; "corrupt PDF: ..." when pypdf cannot read it;
            "has N pages, over the limit of ``max_pages``" before any page is read.
    """
    from pypdf import PdfReader

    # pypdf logs every recoverable defect at WARNING; they say nothing the result does not.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ParseError("corrupt PDF: no %PDF header")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported algorithms and the like: still unreadable
                opened = 0
            if not opened:
                raise ParseError("encrypted PDF")
        count = len(reader.pages)
        if count > max_pages:
            raise ParseError(f"has {count} pages, over the limit of {max_pages} (RAGPLANE_INGEST_MAX_PDF_PAGES)")
        pages = list(reader.pages)
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types for damaged files
        raise ParseError(f"corrupt PDF: {exc}") from None
    outline = _outline(reader)
    builder = TextBuilder()
    headings = HeadingStack()
    for number, page in enumerate(pages):
        try:
            text = normalize_newlines(page.extract_text() or "")
        except Exception as exc:  # noqa: BLE001
            raise ParseError(f"corrupt PDF: page {number + 1}: {exc}") from None
        builder.paragraph_break()
        page_start = builder.length
        builder.begin(headings.path, page=number + 1)
        position = 0
        for entry in (e for e in outline if e.page == number):
            match = _title_pattern(entry.title).search(text, position)
            if match is None:
                headings.push(entry.level, entry.title)
                if builder.length == page_start:
                    builder.begin(headings.path, page=number + 1)
                continue
            builder.write(text[position : match.start()])
            builder.begin(headings.push(entry.level, entry.title), page=number + 1)
            builder.write(text[match.start() : match.end()])
            builder.mark_heading_end()
            position = match.end()
        builder.write(text[position:])
    title = ""
    try:
        metadata = reader.metadata
        title = str(metadata.title or "") if metadata is not None else ""
    except Exception:  # noqa: BLE001 - metadata is optional
        title = ""
    return builder.build(title=title, format="pdf", pages=len(pages))
