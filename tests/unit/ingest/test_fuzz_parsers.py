"""Property-based fuzzing of every ingest parser: any bytes either parse into a consistent document or fail with
ParseError (a reason for people), never another exception; the extracted text grows at most linearly with the
input; segments are ordered, disjoint, trimmed spans of the text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ragplane_ingest.parsing import FORMATS, ParsedDocument, ParseError, parse

pytestmark = pytest.mark.unit

FORMAT = {fmt.name: fmt for fmt in FORMATS}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Extracted text may add a little markup per input byte (list numbers, table pipes, paragraph breaks) but never
# more than a constant factor; a fixed allowance covers the tiny inputs.
GROWTH = 8
ALLOWANCE = 256

# Pieces that exercise the parsers' structure: headings, fences, links, tags, entities, control characters.
MARKUP = st.sampled_from(
    [
        "# ",
        "## ",
        "###### ",
        "#",
        "\n",
        "\r\n",
        "\r",
        "\n\n",
        "---\n",
        "===\n",
        "```\n",
        "~~~",
        "title: ",
        "[",
        "](",
        ")",
        "**",
        "__",
        "`",
        "> ",
        "- ",
        "1. ",
        "<h1>",
        "</h1>",
        "<h3>",
        "<p>",
        "</p>",
        "<div>",
        "<ol><li>",
        "</li>",
        "<ul><li>",
        "<table><tr><td>",
        "</td><th>",
        "</tr></table>",
        "<pre>",
        "<br>",
        "<script>",
        "<!--",
        "-->",
        "<![CDATA[",
        "<title>",
        "&amp;",
        "&#0;",
        "&#xFFFF;",
        "\x00",
        "\ufeff",
        "\u2028",
        " ",
        "\t",
    ]
)
TEXT = st.lists(st.one_of(MARKUP, st.text(max_size=20)), max_size=60).map("".join)
# Raw bytes for the text formats: valid text, invalid UTF-8, byte order marks, NULs.
RAW = st.one_of(
    st.binary(max_size=600),
    TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.tuples(
        st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"]), st.binary(max_size=200)
    ).map(b"".join),
)
CHARSETS = st.sampled_from(["", "", "utf-8", "latin-1", "utf-16", "ascii", "no-such-charset", "cp1252"])


def check_document(doc: ParsedDocument, size: int) -> None:
    """The properties every parsed document has, whatever the input."""
    assert isinstance(doc.text, str)
    assert "\x00" not in doc.text
    assert len(doc.text) <= GROWTH * size + ALLOWANCE, f"{len(doc.text)} characters of text from {size} bytes"
    previous_end = 0
    for segment in doc.segments:
        assert previous_end <= segment.start < segment.end <= len(doc.text), "segments overlap or leave the text"
        body = doc.text[segment.start : segment.end]
        assert body == body.strip(), "a segment starts or ends in whitespace"
        if segment.heading_end is not None:
            assert segment.start <= segment.heading_end <= segment.end
        assert all(isinstance(part, str) for part in segment.section_path)
        previous_end = segment.end
    if not doc.is_empty():
        assert doc.segments


def parse_or_reason(data: bytes, name: str, content_type: str = "") -> ParsedDocument | None:
    """Parse, allowing only ParseError with a reason; anything else fails the property."""
    try:
        doc = parse(data, FORMAT[name], content_type)
    except ParseError as exc:
        assert exc.reason.strip(), "a ParseError without a reason"
        return None
    check_document(doc, len(data))
    return doc


@pytest.mark.parametrize("name", ["text", "markdown", "html"])
@FUZZ
@given(data=RAW, charset=CHARSETS)
@example(data=b"\xff\xfe\x00", charset="")
@example(data=b"a\x00b", charset="utf-8")
@example(data=b"---\ntitle: x\n---\n# a\n", charset="")
@example(data=b"x\n===\n```\n# not\n", charset="")
@example(data=b"<ol><li>a<ol><li>b</ol></ol><h1></h1><h2>x</h2>", charset="")
@example(data=b"<table><tr><td><table><tr><td>x</table></table>", charset="")
def test_text_formats_take_any_bytes(name, data, charset):
    media = FORMAT[name].content_types[0]
    parse_or_reason(data, name, f"{media}; charset={charset}" if charset else "")


@FUZZ
@given(text=TEXT)
def test_markdown_and_html_text_keeps_every_word_of_plain_input(text):
    """Text without markup characters comes out with the same words (nothing silently lost)."""
    plain = "".join(ch for ch in text if ch.isalnum() or ch == " ")
    for name in ("markdown", "text"):
        doc = parse_or_reason(plain.encode(), name)
        assert doc is not None
        assert doc.text.split() == plain.split()


PDF_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=80)


@FUZZ
@given(pages=st.lists(PDF_TEXT, min_size=1, max_size=4), cut=st.integers(0, 4000), junk=st.binary(max_size=64))
def test_pdf_parser_takes_valid_truncated_and_damaged_pdfs(docgen, pages, cut, junk):
    valid = docgen.raw_pdf(pages)
    doc = parse_or_reason(valid, "pdf")
    assert doc is not None and doc.pages == len(pages), "a valid PDF failed to parse"
    parse_or_reason(valid[: cut % len(valid)], "pdf")
    middle = cut % len(valid)
    parse_or_reason(valid[:middle] + junk + valid[middle + len(junk) :], "pdf")


@FUZZ
@given(data=st.binary(max_size=600))
@example(data=b"%PDF-1.4\n")
@example(data=b"%PDF-1.4\ntrailer\n<< /Root 1 0 R >>\n%%EOF")
@example(data=b"%PDF-1.4\n1 0 obj\n<< /Type /Pages /Kids [1 0 R] /Count 1 >>\nendobj\ntrailer\n<< /Root 1 0 R >>")
def test_pdf_parser_takes_any_bytes(data):
    parse_or_reason(b"%PDF-1.4\n" + data, "pdf")
    parse_or_reason(data, "pdf")


DOCX_BLOCK = st.one_of(
    st.tuples(st.sampled_from(["p", "bullet", "title", "heading1", "heading2", "heading9"]), PDF_TEXT),
    st.tuples(st.just("table"), st.lists(st.lists(PDF_TEXT, min_size=1, max_size=3), min_size=1, max_size=3)),
)


def _rectangular(blocks):
    """python-docx tables need rows of one width."""
    fixed = []
    for kind, value in blocks:
        if kind == "table":
            width = len(value[0])
            value = [(row + [""] * width)[:width] for row in value]
        fixed.append((kind, value))
    return fixed


@settings(FUZZ, max_examples=60)
@given(blocks=st.lists(DOCX_BLOCK, max_size=6), cut=st.integers(0, 40_000), junk=st.binary(min_size=1, max_size=64))
def test_docx_parser_takes_valid_truncated_and_damaged_documents(docgen, blocks, cut, junk):
    valid = docgen.make_docx(_rectangular(blocks))
    doc = parse_or_reason(valid, "docx")
    assert doc is not None, "a valid DOCX failed to parse"
    middle = cut % len(valid)
    parse_or_reason(valid[:middle], "docx")
    parse_or_reason(valid[:middle] + junk + valid[middle + len(junk) :], "docx")


@FUZZ
@given(data=st.binary(max_size=600))
@example(data=b"PK\x05\x06" + b"\x00" * 18)
@example(data=b"PK\x03\x04")
def test_docx_parser_takes_any_bytes(data):
    parse_or_reason(data, "docx")
