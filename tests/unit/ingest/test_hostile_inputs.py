"""Hostile documents: every parser and the chunker finish in bounded time; over-limit documents, fields and zip
members are refused with the field or member named, before the memory is spent."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile

import pytest

from ragplane.runtime.errors import InvalidArgument
from ragplane_ingest.chunking import ChunkingParams, chunk_document
from ragplane_ingest.config import load
from ragplane_ingest.limits import DocumentLimits, OverLimit, check_document
from ragplane_ingest.parsing import ParseError, parse, select_format
from ragplane_ingest.parsing.html import parse_html
from ragplane_ingest.parsing.markdown import parse_markdown
from ragplane_ingest.pipeline import DocumentSpec, IngestPipeline

pytestmark = pytest.mark.unit

# Each case took from 6 s to hours before parsing and chunking were made linear; 10 s leaves a loaded machine room.
BUDGET_S = 10.0


def pathological_markdown() -> bytes:
    """About 1 MB: a padded front matter title, headings full of emphasis, brackets and closing hashes."""
    front = b"---\ntitle: x" + b" " * 60_000 + b"y\n---\n"
    headings = (b"###### " + b"**[" * 200 + b"](" * 200 + b" " * 200 + b"#" * 50 + b"\n") * 400
    return front + headings + b"*_" * 100_000


HOSTILE = {
    "text, 600 kB whitespace run": ("a.txt", b"a" + b" " * 600_000 + b"b"),
    "text, 200k newlines": ("a.txt", b"a" + b"\n" * 200_000 + b"b"),
    "text, three 90,000-digit words": ("a.txt", b" ".join([b"7" * 90_000] * 3)),
    "markdown, padded ATX heading": ("a.md", b"#" + b" " * 300_000 + b"x"),
    "markdown, heading of 300k brackets": ("a.md", b"# " + b"[" * 300_000),
    "markdown, 1 MB of pathological emphasis and headings": ("a.md", pathological_markdown()),
    "html, ordered list of 60k items": ("a.html", b"<ol>" + b"<li>x</li>" * 60_000 + b"</ol>"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_document_is_parsed_and_chunked_in_bounded_time(case, tokenizer):
    name, data = HOSTILE[case]
    started = time.perf_counter()
    doc = parse(data, select_format(name, ""))
    chunk_document(doc, tokenizer, ChunkingParams(32, 8))
    assert time.perf_counter() - started < BUDGET_S


def test_deeply_nested_html_fails_with_a_reason_in_bounded_time():
    started = time.perf_counter()
    with pytest.raises(ParseError, match="nested"):
        parse_html(b"<div>" * 100_000 + b"x")
    assert time.perf_counter() - started < BUDGET_S


def test_ordered_list_items_are_numbered_in_order():
    doc = parse_html(b"<ol><li>one</li><li>two</li><li>three</li></ol>")
    assert doc.text.strip() == "1. one\n2. two\n3. three"


def test_padded_atx_heading_keeps_its_text_and_drops_the_closing_hashes():
    doc = parse_markdown(b"#   Install   ##  \nbody\n")
    assert doc.segments[0].section_path == ("Install",)


# -- caps on fields and documents -------------------------------------------------------------------


@pytest.fixture
def pipeline(tokenizer):
    return IngestPipeline(load({}), tokenizer, store=None, producer=None, scanner=None)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (DocumentSpec(source="a.txt", title="x" * 5_000_000), "header.title"),
        (DocumentSpec(doc_id="a", source="s/" * 1000 + "a.txt"), "header.source"),
    ],
)
def test_oversized_header_field_is_invalid_argument_naming_it(pipeline, spec, field):
    with pytest.raises(InvalidArgument) as info:
        pipeline.prepare(spec)
    assert info.value.field == field
    assert "at most 1024 characters" in info.value.message


LIMITS = DocumentLimits.from_settings(load({}))


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("a.html", b"<title>" + b"t" * 5_000_000 + b"</title><p>x</p>", "title is 5000000 characters"),
        ("a.md", b"## " + b"h" * 5000 + b"\n\nbody\n", "section path is 5000 characters"),
        ("a.txt", b" ".join([b"7" * 90_000] * 3), "word is 90000 characters"),
    ],
)
def test_document_over_a_content_limit_is_refused_naming_the_limit(name, data, fragment):
    doc = parse(data, select_format(name, ""))
    with pytest.raises(OverLimit) as info:
        check_document(name, doc, LIMITS)
    assert info.value.code.name == "INVALID_ARGUMENT"
    assert fragment in info.value.message and "RAGPLANE_INGEST_MAX_" in info.value.message


def test_chunks_per_document_are_capped(tokenizer):
    doc = parse(b"word " * 20_000, select_format("a.txt", ""))
    with pytest.raises(OverLimit, match="RAGPLANE_INGEST_MAX_CHUNKS_PER_DOCUMENT"):
        chunk_document(doc, tokenizer, ChunkingParams(32, 8), max_chunks=100)


# -- zip members ------------------------------------------------------------------------------------


def docx_bomb(docgen, expanded_bytes: int = 1100 * 1024 * 1024) -> bytes:
    """A real DOCX whose word/document.xml is replaced by one that inflates to ``expanded_bytes``."""
    source = zipfile.ZipFile(io.BytesIO(docgen.make_docx([("p", "seed")])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                bomb.writestr(info, source.read(info))
                continue
            with bomb.open(info.filename, "w", force_zip64=True) as member:
                block = b" " * (1 << 20)
                for _ in range(expanded_bytes // len(block)):
                    member.write(block)
    return out.getvalue()


def test_docx_zip_bomb_is_refused_naming_the_member_before_decompression(docgen):
    bomb = docx_bomb(docgen)
    assert len(bomb) < 5 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match="word/document.xml"):
            parse(bomb, select_format("bomb.docx", ""))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024
