"""What the client returns and takes: plain dataclasses and string enums, never protobuf messages."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


class IngestOutcome(StrEnum):
    """What the ingest service did with one uploaded document."""

    UNSPECIFIED = "UNSPECIFIED"
    ACCEPTED = "ACCEPTED"  # parsed, chunked and queued for embedding
    UNCHANGED = "UNCHANGED"  # same content as the current version: nothing to do
    FAILED = "FAILED"  # rejected; see ``DocumentResult.error``


class DocumentState(StrEnum):
    """Where a document is on its way to the index."""

    UNSPECIFIED = "UNSPECIFIED"
    QUEUED = "QUEUED"
    CHUNKED = "CHUNKED"
    INDEXED = "INDEXED"
    FAILED = "FAILED"
    DELETED = "DELETED"
    DELETING = "DELETING"


class CacheOutcome(StrEnum):
    """How the answer caches served a question."""

    UNSPECIFIED = "UNSPECIFIED"
    MISS = "MISS"
    EXACT_HIT = "EXACT_HIT"
    SEMANTIC_HIT = "SEMANTIC_HIT"
    BYPASSED = "BYPASSED"


class GuardrailAction(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    ALLOW = "ALLOW"
    MARK = "MARK"
    REDACT = "REDACT"
    BLOCK = "BLOCK"


class Rating(StrEnum):
    """A user's judgement of an answer."""

    THUMBS_UP = "THUMBS_UP"
    THUMBS_DOWN = "THUMBS_DOWN"


# -- filters ------------------------------------------------------------------------------------------------

BUILTIN_FIELDS = frozenset({"doc_id", "source", "title", "page", "chunk_index"})
_FILTER = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(>=|<=|!=|=|>|<)\s*(.*)$")
Scalar = str | float | int | bool


def _field_name(key: str) -> str:
    """Built-in fields by name; anything else is caller metadata (``metadata.<key>``)."""
    return key if key in BUILTIN_FIELDS or key.startswith("metadata.") else f"metadata.{key}"


def _scalar(raw: str) -> Scalar:
    try:
        return float(raw)
    except ValueError:
        return raw


@dataclass(frozen=True)
class Filter:
    """A condition on a payload field: exactly one of ``equals``, ``any_of`` or a range bound.

    ``field`` is a built-in field (doc_id, source, title, page, chunk_index) or a metadata key; a bare metadata key
    gets the ``metadata.`` prefix. ``negate`` inverts the condition.
    """

    field: str
    equals: Scalar | None = None
    any_of: tuple[Scalar, ...] | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    negate: bool = False

    def __post_init__(self) -> None:
        if not self.field:
            raise ValueError("filter field must not be empty")
        object.__setattr__(self, "field", _field_name(self.field))
        ranged = any(b is not None for b in (self.gt, self.gte, self.lt, self.lte))
        kinds = (self.equals is not None) + (self.any_of is not None) + ranged
        if kinds != 1:
            raise ValueError(f"filter on {self.field!r} needs exactly one of equals, any_of or a range bound")

    @classmethod
    def parse(cls, spec: str) -> Filter:
        """``key=value``, ``key=a|b`` (any of), ``key!=value`` (negated), ``key>=n``, ``key<n``...

        Numbers compare as numbers; anything else as a string.

        Raises:
            ValueError: malformed, or a range bound that is not a number (the message quotes ``spec``).
        """
        match = _FILTER.match(spec)
        if not match:
            raise ValueError(f"filter {spec!r}: expected key=value, key=a|b, key!=value or key>=number")
        key, op, raw = match.groups()
        if op in {"=", "!="}:
            options = raw.split("|")
            if len(options) > 1:
                return cls(key, any_of=tuple(_scalar(o) for o in options), negate=op == "!=")
            return cls(key, equals=_scalar(raw), negate=op == "!=")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"filter {spec!r}: {op} needs a number, got {raw!r}") from None
        bound = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}[op]
        return cls(key, **{bound: number})


# -- ingest -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One document to upload from memory (``Client.ingest`` also takes file and folder paths).

    Attributes:
        doc_id: the caller's id; a later upload with the same id replaces the document.
        data: the raw bytes (text, Markdown, HTML, PDF, DOCX).
        source: file name or URI; it also picks the parser when ``content_type`` is empty.
        content_type: MIME type, e.g. ``application/pdf``.
        title: shown in citations.
        metadata: caller metadata, filterable as ``metadata.<key>``.
    """

    doc_id: str
    data: bytes
    source: str = ""
    content_type: str = ""
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class LocalFile:
    """A file to upload, with the doc_id it gets (its path relative to the folder it was found in)."""

    path: Path
    doc_id: str
    size: int
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.path.as_posix()


@dataclass(frozen=True)
class ErrorInfo:
    """Why one item failed: the canonical gRPC code name and the message (it names the field when it is one)."""

    code: str
    message: str


@dataclass
class DocumentResult:
    """What happened to one document of an ``ingest`` call; ``state`` is filled in when it waited for indexing.

    Attributes:
        doc_id: the document's id.
        source: what it was uploaded from.
        outcome: ACCEPTED, UNCHANGED or FAILED (the upload).
        sequence: the version's sequence (grows with every accepted change of the document).
        content_hash: hex sha256 of the extracted text.
        chunks: chunks the version was cut into.
        flagged_chunks: chunks the document scan removed or marked.
        error: why the upload failed (outcome FAILED), or why indexing failed (state FAILED).
        state: the document's state when the wait ended ("" when not waited for).
        superseded_by: the sequence of a newer version that replaced this one while waiting (0 when none).
    """

    doc_id: str
    source: str
    outcome: IngestOutcome = IngestOutcome.UNSPECIFIED
    sequence: int = 0
    content_hash: str = ""
    chunks: int = 0
    flagged_chunks: int = 0
    error: ErrorInfo | None = None
    state: DocumentState | str = ""
    superseded_by: int = 0

    @property
    def failed(self) -> bool:
        return self.outcome == IngestOutcome.FAILED or self.state == DocumentState.FAILED

    @property
    def accepted(self) -> bool:
        """Accepted now or already current: the documents a wait follows."""
        return self.outcome in (IngestOutcome.ACCEPTED, IngestOutcome.UNCHANGED)

    @property
    def pending(self) -> bool:
        """Accepted but neither indexed, failed nor superseded yet."""
        return (
            self.accepted and self.state not in (DocumentState.INDEXED, DocumentState.FAILED) and not self.superseded_by
        )


@dataclass
class IngestResult:
    """The documents of one ``ingest`` call, in the order they were given.

    Attributes:
        documents: one result per document.
        waited: whether the call waited for indexing.
        timed_out: the wait's deadline passed with documents still pending.
    """

    documents: list[DocumentResult]
    waited: bool = False
    timed_out: bool = False

    @property
    def failed(self) -> list[DocumentResult]:
        return [d for d in self.documents if d.failed]

    def __getitem__(self, doc_id: str) -> DocumentResult:
        """The result of ``doc_id``. Raises KeyError when the call sent no such document."""
        for document in self.documents:
            if document.doc_id == doc_id:
                return document
        raise KeyError(doc_id)


@dataclass(frozen=True)
class IngestProgress:
    """Reported to an ``ingest`` progress callback.

    ``phase`` is "upload" (after each part of a document is sent, and when its result comes back: ``document`` is
    then set) or "index" (when a document leaves the pending set while waiting: ``document`` is set).
    """

    phase: str
    bytes_sent: int
    bytes_total: int
    done: int
    total: int
    document: DocumentResult | None = None


@dataclass(frozen=True)
class DocumentStatus:
    """A document as the ingest service knows it."""

    doc_id: str
    source: str
    title: str
    state: DocumentState
    sequence: int
    content_hash: str
    chunks: int
    indexed_chunks: int
    reason: str
    updated_at: datetime | None


@dataclass(frozen=True)
class DocumentPage:
    """One page of ``list_documents``; pass ``next_page_token`` for the next ("" after the last)."""

    documents: list[DocumentStatus]
    next_page_token: str


@dataclass(frozen=True)
class DeletedDocument:
    doc_id: str
    # The sequence of the version that records the deletion.
    sequence: int


# -- ask ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    """A passage the answer cites as ``[passage_number]``."""

    passage_number: int
    doc_id: str
    chunk_id: str = ""
    page: int = 0
    source: str = ""
    section_path: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True)
class Finding:
    category: str
    score: float = 0.0
    start: int = 0
    end: int = 0
    detector: str = ""
    message: str = ""
    action: GuardrailAction = GuardrailAction.UNSPECIFIED


@dataclass(frozen=True)
class Verdict:
    """What a guardrail decided about the question (input) or the answer (output)."""

    action: GuardrailAction = GuardrailAction.UNSPECIFIED
    findings: tuple[Finding, ...] = ()
    redacted_text: str = ""
    policy: str = ""
    latency_ms: float = 0.0


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Answer:
    """A grounded answer.

    Attributes:
        request_id: the id to give ``feedback`` and to find the request in logs and traces.
        answer: the text, with ``[n]`` markers for its citations.
        citations: the passages cited.
        blocked: a guardrail refused the question or the answer (``answer`` then says why).
        input_verdict / output_verdict: the guardrails' decisions.
        cache: how the answer caches served it.
        usage: tokens in and out.
        model: the model that generated it.
        timings: milliseconds per stage ("total", "ttft", "retrieve", ...).
        session_id: the conversation it belongs to ("" for a single turn).
        dropped_citations: citations to passages that were not in the context (removed).
    """

    request_id: str
    answer: str
    citations: tuple[Citation, ...] = ()
    blocked: bool = False
    input_verdict: Verdict | None = None
    output_verdict: Verdict | None = None
    cache: CacheOutcome = CacheOutcome.UNSPECIFIED
    usage: Usage = Usage()
    model: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    session_id: str = ""
    dropped_citations: int = 0

    @property
    def blocked_categories(self) -> list[str]:
        """The finding categories behind a block (the input's when it has findings, else the output's)."""
        verdict = self.input_verdict if self.input_verdict and self.input_verdict.findings else self.output_verdict
        return sorted({f.category for f in verdict.findings}) if verdict else []


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer as it is generated (already through the output checks)."""

    text: str


@dataclass(frozen=True)
class FinalAnswer:
    """The last event of a stream that was answered: the full answer with its citations."""

    answer: Answer


@dataclass(frozen=True)
class BlockedAnswer:
    """The last event of a stream whose question or answer a guardrail refused."""

    answer: Answer

    @property
    def categories(self) -> list[str]:
        return self.answer.blocked_categories


AskEvent = TextDelta | FinalAnswer | BlockedAnswer


# -- search -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    """A passage that matches a search, with what it takes to show and cite it.

    Attributes:
        rank: one-based position in the result.
        score: the rerank score when reranked, else the retrieval score; higher is better.
        retrieval_score / rerank_score: the two scores (``rerank_score`` None when not reranked).
        chunk_id, doc_id, text, title, source, page, section_path, chunk_index: the passage and where it is from.
        char_start / char_end: its offsets in the document's extracted text, [start, end).
        metadata: the document's metadata as given at ingest.
        flags: what the ingest-time document scan noted about it.
    """

    rank: int
    score: float
    retrieval_score: float
    rerank_score: float | None
    chunk_id: str
    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    page: int = 0
    section_path: tuple[str, ...] = ()
    chunk_index: int = 0
    char_start: int = 0
    char_end: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchResult:
    """The passages that match a query, best first.

    Attributes:
        request_id: the request's id in logs and traces.
        hits: the passages.
        blocked: the input guardrail refused the query (``hits`` is then empty; ``input_verdict`` says why).
        reranked: the hits are in rerank order (False when rerank was turned off or unavailable).
        timings: milliseconds per stage.
    """

    request_id: str
    hits: list[SearchHit]
    blocked: bool = False
    input_verdict: Verdict | None = None
    reranked: bool = False
    timings: dict[str, float] = field(default_factory=dict)


# -- eval ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalProgress:
    """A phase of an eval run ("load", "ingest", "index", "questions") and how far it got."""

    phase: str
    done: int
    total: int


@dataclass(frozen=True)
class QuestionResult:
    """One scored question of an eval run."""

    question_id: str
    question: str
    reference_answers: tuple[str, ...]
    relevant_doc_ids: tuple[str, ...]
    request_id: str
    answer: str
    blocked: bool
    # Ranked doc ids per retrieval mode ("dense", "sparse", "hybrid", "rerank").
    retrieved: dict[str, list[str]]
    cited_doc_ids: tuple[str, ...]
    metrics: dict[str, float]
    # Why a step failed for this question (None when none did).
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class EvalReport:
    """The summary of an eval run: metric name -> value (see the eval service's README for the names)."""

    run_id: str
    dataset: str
    questions: int
    metrics: dict[str, float]
    started_at: datetime | None
    finished_at: datetime | None
    rows_path: str
    tenant: str
    retrieval_only: bool
    judge: str


EvalEvent = EvalProgress | QuestionResult | EvalReport


@dataclass(frozen=True)
class EvalRun:
    """A finished run: its report and every question's row."""

    report: EvalReport
    rows: list[QuestionResult]
