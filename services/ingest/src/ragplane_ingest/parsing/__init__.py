"""Document parsers, chosen by content type, else by file extension.

``parse`` turns raw bytes into a ``ParsedDocument``: the extracted text (character offsets of chunks point
into it) and its segments (section path and page per span).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from ragplane_ingest.parsing.archive import ZipLimits
from ragplane_ingest.parsing.model import ParsedDocument, ParseError, Segment

__all__ = [
    "FORMATS",
    "PARSER_VERSION",
    "DocumentFormat",
    "ParseError",
    "ParsedDocument",
    "Segment",
    "UnsupportedFormat",
    "ZipLimits",
    "parse",
    "select_format",
    "split_content_type",
]

# Part of every document's content hash: bump it when a parser's output changes, so re-ingesting the same
# bytes produces the new extraction instead of being reported unchanged.
PARSER_VERSION = "1"


class UnsupportedFormat(Exception):
    """Neither the content type nor the extension names a supported format."""


@dataclass(frozen=True)
class DocumentFormat:
    name: str
    content_types: tuple[str, ...]
    extensions: tuple[str, ...]


FORMATS = (
    DocumentFormat("text", ("text/plain",), (".txt", ".text")),
    DocumentFormat("markdown", ("text/markdown", "text/x-markdown"), (".md", ".markdown", ".mdown", ".mkd")),
    DocumentFormat("html", ("text/html", "application/xhtml+xml"), (".html", ".htm", ".xhtml")),
    DocumentFormat("pdf", ("application/pdf",), (".pdf",)),
    DocumentFormat("docx", ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",), (".docx",)),
)
_BY_TYPE = {content_type: fmt for fmt in FORMATS for content_type in fmt.content_types}
_BY_EXTENSION = {extension: fmt for fmt in FORMATS for extension in fmt.extensions}


def split_content_type(content_type: str) -> tuple[str, str]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"."""
    media, _, params = content_type.partition(";")
    charset = ""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def select_format(source: str, content_type: str) -> DocumentFormat:
    """The format named by ``content_type``, else by the extension of ``source``.

    Raises:
        UnsupportedFormat: with a message naming the source, its type and the supported formats.
    """
    media, _ = split_content_type(content_type)
    if media in _BY_TYPE:
        return _BY_TYPE[media]
    extension = posixpath.splitext(source.replace("\\", "/").rsplit("/", 1)[-1])[1].lower()
    if extension in _BY_EXTENSION:
        return _BY_EXTENSION[extension]
    described = ", ".join(
        filter(
            None,
            [f"content type {media!r}" if media else "", f"extension {extension!r}" if extension else "no extension"],
        )
    )
    supported = ", ".join(f"{fmt.name} ({' '.join(fmt.extensions)})" for fmt in FORMATS)
    raise UnsupportedFormat(f"unsupported document type for {source!r} ({described}); supported: {supported}")


def _parser(fmt: DocumentFormat, zip_limits: ZipLimits, max_pdf_pages: int) -> Callable[[bytes, str], ParsedDocument]:
    if fmt.name == "text":
        from ragplane_ingest.parsing.text import parse_text

        return parse_text
    if fmt.name == "markdown":
        from ragplane_ingest.parsing.markdown import parse_markdown

        return parse_markdown
    if fmt.name == "html":
        from ragplane_ingest.parsing.html import parse_html

        return parse_html
    if fmt.name == "pdf":
        from ragplane_ingest.parsing.pdf import parse_pdf

        return lambda data, _charset: parse_pdf(data, max_pdf_pages)
    from ragplane_ingest.parsing.docx import parse_docx

    return lambda data, _charset: parse_docx(data, zip_limits)


def parse(
    data: bytes,
    fmt: DocumentFormat,
    content_type: str = "",
    zip_limits: ZipLimits | None = None,
    *,
    max_pdf_pages: int = 2000,
) -> ParsedDocument:
    """Parse ``data`` as ``fmt`` (the charset parameter of ``content_type`` applies to text formats).

    Raises:
        ParseError: the document cannot be read (``reason`` says why), a zip container (DOCX) would
            expand past ``zip_limits`` (default: ``ZipLimits()``), or a PDF has more than ``max_pdf_pages``.
    """
    _, charset = split_content_type(content_type)
    return _parser(fmt, zip_limits or ZipLimits(), max_pdf_pages)(data, charset)
