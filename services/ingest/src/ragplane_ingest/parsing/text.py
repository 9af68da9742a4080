"""Plain text: decoding and a single untitled segment."""

from __future__ import annotations

import codecs

from ragplane_ingest.parsing.model import ParsedDocument, ParseError, Segment, normalize_newlines, trim_segments

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, charset: str = "") -> str:
    """Decode text bytes: the declared charset, else a BOM, else UTF-8, else Windows-1252.

    Raises:
        ParseError: the bytes are binary (NUL bytes without a UTF-16/32 byte order mark) or do not decode.
    """
    if charset:
        try:
            return normalize_newlines(data.decode(charset))
        except LookupError:
            raise ParseError(f"unknown charset {charset!r}") from None
        except UnicodeDecodeError as exc:
            raise ParseError(f"content is not valid {charset}: {exc.reason} at byte {exc.start}") from None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return normalize_newlines(data.decode(encoding))
            except UnicodeDecodeError as exc:
                raise ParseError(f"content is not valid {encoding}: {exc.reason} at byte {exc.start}") from None
    if b"\x00" in data[:8192]:
        raise ParseError("binary content (NUL bytes), not text")
    try:
        return normalize_newlines(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    try:
        return normalize_newlines(data.decode("cp1252"))
    except UnicodeDecodeError:
        return normalize_newlines(data.decode("latin-1"))


def parse_text(data: bytes, charset: str = "") -> ParsedDocument:
    """The whole text as one segment with no section path."""
    text = decode_text(data, charset)
    return ParsedDocument(text, trim_segments(text, [Segment(0, len(text))]), "", "text")
