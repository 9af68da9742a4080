"""Property-based fuzzing of the chunker on parsed documents of any shape (headings, pages, CJK, combining marks,
emoji, control characters): chunks are ordered exact spans inside one segment, each within the token budget and
adding new text, their number bounded by the document's tokens, and a chunk cap is the only error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragplane_ingest.chunking import ChunkingParams, chunk_document, merge_heading_only
from ragplane_ingest.limits import OverLimit
from ragplane_ingest.parsing.html import parse_html
from ragplane_ingest.parsing.markdown import parse_markdown

pytestmark = pytest.mark.unit

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORD = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(["\u6771\u4eac\u90fd", "e\u0301\u0301", "\U0001f600\u200d\U0001f4bb", "\u200b", "a.b", "x" * 80]),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=30),
)
SEPARATOR = st.sampled_from([" ", "\n", "\n\n", ". ", "! ", "\t", "", "\u3002", "\u00a0", "\u2029"])
HEADING = st.sampled_from(["\n# ", "\n## ", "\n### ", "\n#### "])
BODY = st.lists(st.tuples(st.one_of(WORD, HEADING), SEPARATOR), max_size=120).map(
    # NUL makes the bytes binary, not text (the parsers' fuzzers cover that); here every body parses.
    lambda pairs: "".join(word + sep for word, sep in pairs).replace("\x00", "")
)
PARAMS = st.integers(32, 96).flatmap(lambda size: st.tuples(st.just(size), st.integers(0, (size - 1) // 2)))


def markdown_document(body: str):
    return parse_markdown(body.encode("utf-8", "surrogatepass"))


def html_document(body: str):
    html = "".join(f"<h2>{line}</h2>" if line.startswith("#") else f"<p>{line}</p>" for line in body.split("\n"))
    return parse_html(html.encode("utf-8", "surrogatepass"))


def check_chunks(doc, chunks, tokenizer, params: ChunkingParams) -> None:
    """Order, exact spans, segment containment, budget, progress and a linear bound on the count."""
    segments = merge_heading_only(doc.text, doc.segments)
    tokens = sum(len(tokenizer.token_spans(doc.text[s.start : s.end])) for s in segments)
    assert len(chunks) <= tokens, f"{len(chunks)} chunks from {tokens} tokens"
    previous = None
    for chunk in chunks:
        assert 0 <= chunk.start < chunk.end <= len(doc.text)
        assert chunk.tokens >= 1
        assert tokenizer.count(doc.text[chunk.start : chunk.end]) <= params.size
        homes = [s for s in segments if s.start <= chunk.start and chunk.end <= s.end]
        assert len(homes) == 1 and (homes[0].section_path, homes[0].page) == (chunk.section_path, chunk.page)
        if previous is not None:
            assert (chunk.start, chunk.end) > (previous.start, previous.end), "chunks out of order"
            assert chunk.end > previous.end, "a chunk adds no text"
        previous = chunk


@FUZZ
@given(body=BODY, params=PARAMS, html=st.booleans())
def test_any_parsed_document_chunks_into_ordered_spans_within_budget(tokenizer, body, params, html):
    doc = html_document(body) if html else markdown_document(body)
    chosen = ChunkingParams(*params)
    check_chunks(doc, chunk_document(doc, tokenizer, chosen), tokenizer, chosen)


@FUZZ
@given(body=BODY, params=PARAMS, cap=st.integers(0, 3))
def test_a_chunk_cap_is_the_only_error_and_is_never_exceeded(tokenizer, body, params, cap):
    doc = markdown_document(body)
    chosen = ChunkingParams(*params)
    try:
        chunks = chunk_document(doc, tokenizer, chosen, max_chunks=cap, source="fuzz.md")
    except OverLimit as exc:
        assert "fuzz.md" in str(exc) and "RAGPLANE_INGEST_MAX_CHUNKS_PER_DOCUMENT" in str(exc)
        return
    assert len(chunks) <= cap
    check_chunks(doc, chunks, tokenizer, chosen)
