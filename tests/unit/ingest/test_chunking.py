"""Chunking: sizes in real tokenizer tokens, overlap, exact offsets, structure kept."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragplane.runtime.errors import InvalidArgument
from ragplane_ingest.chunking import ChunkingLimits, ChunkingParams, chunk_document, merge_heading_only, resolve_params
from ragplane_ingest.parsing import ParsedDocument, Segment
from ragplane_ingest.parsing.markdown import parse_markdown
from ragplane_ingest.parsing.text import parse_text

pytestmark = pytest.mark.unit

PROSE = (
    "Retrieval augmented generation grounds answers in documents. Each document is parsed, split into chunks "
    "and embedded. Chunks that are too long dilute the embedding; chunks that are too short lose context! "
    "Overlap keeps sentences that straddle a boundary retrievable from both sides? It costs some storage.\n"
)


def check_invariants(doc: ParsedDocument, chunks, tokenizer, params: ChunkingParams) -> None:
    """Every chunk fits, is an exact trimmed span inside one segment, and the segments' text is covered."""
    segments = merge_heading_only(doc.text, doc.segments)
    previous = None
    for chunk in chunks:
        text = doc.text[chunk.start : chunk.end]
        assert text and text == text.strip()
        assert tokenizer.count(text) <= params.size
        owner = [s for s in segments if s.start <= chunk.start and chunk.end <= s.end]
        assert len(owner) == 1, "a chunk crosses a segment boundary"
        assert (chunk.section_path, chunk.page) == (owner[0].section_path, owner[0].page)
        if previous is not None:
            assert chunk.start > previous.start and chunk.end > previous.end
            if chunk.start < previous.end:  # overlap with the previous chunk of the same segment
                assert tokenizer.count(doc.text[chunk.start : previous.end]) <= params.overlap
        previous = chunk
    for segment in segments:
        covered = set()
        for chunk in chunks:
            covered.update(range(max(chunk.start, segment.start), min(chunk.end, segment.end)))
        missing = [i for i in range(segment.start, segment.end) if i not in covered and not doc.text[i].isspace()]
        assert not missing, f"text lost at {missing[:5]}"


def test_short_text_is_one_chunk(tokenizer):
    doc = parse_text(b"  Just a sentence.  ")
    chunks = chunk_document(doc, tokenizer, ChunkingParams(512, 50))
    assert [(doc.text[c.start : c.end], c.tokens) for c in chunks] == [("Just a sentence.", 4)]


def test_long_prose_is_split_within_budget_with_overlap(tokenizer):
    doc = parse_text((PROSE * 40).encode())
    params = ChunkingParams(64, 12)
    chunks = chunk_document(doc, tokenizer, params)
    assert len(chunks) > 10
    check_invariants(doc, chunks, tokenizer, params)
    overlaps = [tokenizer.count(doc.text[b.start : a.end]) for a, b in zip(chunks, chunks[1:]) if b.start < a.end]
    assert overlaps and max(overlaps) <= 12 and min(overlaps) > 0


def test_chunks_end_at_paragraph_breaks_when_those_keep_them_full(tokenizer):
    paragraphs = [f"Paragraph {n}. " + "Some words about the topic of this paragraph. " * 3 for n in range(12)]
    doc = parse_text("\n\n".join(paragraphs).encode())
    chunks = chunk_document(doc, tokenizer, ChunkingParams(100, 0))
    for chunk in chunks[:-1]:
        assert re.match(r"[ \t]*\n[ \t]*\n", doc.text[chunk.end :]), doc.text[chunk.end : chunk.end + 10]


def test_zero_overlap_gives_disjoint_chunks(tokenizer):
    doc = parse_text((PROSE * 10).encode())
    chunks = chunk_document(doc, tokenizer, ChunkingParams(48, 0))
    assert all(b.start >= a.end for a, b in zip(chunks, chunks[1:]))


def test_text_without_whitespace_is_cut_at_tokens_and_still_fits(tokenizer):
    doc = parse_text(("x." * 1500 + "\u6771\u4eac" * 300).encode())
    params = ChunkingParams(40, 10)
    chunks = chunk_document(doc, tokenizer, params)
    check_invariants(doc, chunks, tokenizer, params)


def test_chunks_never_cross_sections_and_carry_their_paths(tokenizer):
    md = ("# A\n\n" + PROSE * 3 + "\n## B\n\n" + PROSE * 3 + "\n# C\n\nshort\n").encode()
    doc = parse_markdown(md)
    params = ChunkingParams(64, 10)
    chunks = chunk_document(doc, tokenizer, params)
    check_invariants(doc, chunks, tokenizer, params)
    assert [c.section_path for c in chunks][0] == ("A",)
    assert ("A", "B") in {c.section_path for c in chunks}
    assert chunks[-1].section_path == ("C",) and doc.text[chunks[-1].start : chunks[-1].end] == "# C\n\nshort"


def test_heading_only_section_joins_its_first_subsection(tokenizer):
    doc = parse_markdown(b"# Manual\n\n## Install\n\nRun the installer.\n")
    chunks = chunk_document(doc, tokenizer, ChunkingParams(512, 50))
    assert [(doc.text[c.start : c.end], c.section_path) for c in chunks] == [
        ("# Manual\n\n## Install\n\nRun the installer.", ("Manual", "Install"))
    ]


def test_pages_are_kept_per_chunk(tokenizer):
    text = "page one words\n\npage two words"
    doc = ParsedDocument(text, (Segment(0, 14, (), 1), Segment(16, 30, (), 2)), format="pdf", pages=2)
    chunks = chunk_document(doc, tokenizer, ChunkingParams(512, 50))
    assert [(c.page, text[c.start : c.end]) for c in chunks] == [(1, "page one words"), (2, "page two words")]


WORDS = st.sampled_from(
    [
        "alpha",
        "beta",
        "gamma.",
        "delta,",
        "unaffable",
        "tokenization!",
        "x",
        "\u00e9t\u00e9",
        "\u6771\u4eac",
        "42",
        "(paren)",
        "a-b",
        "https://ex.com/a?b=c",
        "zzzzzzzzzzzzzzzzzz",
    ]
)
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", "  ", "\t", ""])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.tuples(WORDS, SEPARATORS), min_size=1, max_size=400),
    size=st.integers(32, 120),
    overlap_share=st.floats(0, 0.49),
)
def test_any_text_chunks_within_budget_with_exact_offsets(tokenizer, pieces, size, overlap_share):
    text = "".join(word + sep for word, sep in pieces)
    doc = parse_text(text.encode())
    params = ChunkingParams(size, int(size * overlap_share))
    chunks = chunk_document(doc, tokenizer, params)
    check_invariants(doc, chunks, tokenizer, params)


def test_resolve_params_defaults_and_clamps_unset_overlap():
    defaults, limits = ChunkingParams(512, 50), ChunkingLimits(32, 2048)
    assert resolve_params(0, 0, defaults, limits) == ChunkingParams(512, 50)
    assert resolve_params(64, 0, defaults, limits) == ChunkingParams(64, 31)
    assert resolve_params(256, 20, defaults, limits) == ChunkingParams(256, 20)


@pytest.mark.parametrize(
    ("size", "overlap", "field", "fragment"),
    [
        (16, 0, "chunking.chunk_size_tokens", "between 32 and 2048, but got 16"),
        (4096, 0, "chunking.chunk_size_tokens", "but got 4096"),
        (100, 50, "chunking.chunk_overlap_tokens", "less than half of chunk_size_tokens (100), but got 50"),
    ],
)
def test_resolve_params_rejects_out_of_range_values_naming_the_field(size, overlap, field, fragment):
    with pytest.raises(InvalidArgument) as info:
        resolve_params(size, overlap, ChunkingParams(512, 50), ChunkingLimits(32, 2048))
    assert info.value.field == field and fragment in info.value.message
