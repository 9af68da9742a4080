"""protobuf <-> the client's dataclasses: the one module that builds requests and reads replies."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from ragplane.client.types import (
    Answer,
    BlockedAnswer,
    CacheOutcome,
    Citation,
    DeletedDocument,
    Document,
    DocumentResult,
    DocumentState,
    DocumentStatus,
    ErrorInfo,
    EvalEvent,
    EvalProgress,
    EvalReport,
    Filter,
    FinalAnswer,
    Finding,
    GuardrailAction,
    IngestOutcome,
    LocalFile,
    QuestionResult,
    Rating,
    SearchHit,
    SearchResult,
    TextDelta,
    Usage,
    Verdict,
)
from ragplane.v1 import common_pb2, eval_pb2, ingest_pb2, rag_pb2

CONTENT_PART_BYTES = 1024 * 1024
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def _enum(value: int, names: Any, prefix: str, kind: Any) -> Any:
    name = names.Name(value).removeprefix(prefix) if value in names.values() else "UNSPECIFIED"
    return kind(name)


def _timestamp(message: Any, name: str) -> datetime | None:
    return getattr(message, name).ToDatetime(tzinfo=UTC) if message.HasField(name) else None


# -- filters --------------------------------------------------------------------------------------------------


def _value(scalar: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    if isinstance(scalar, bool):
        value.bool_value = scalar
    elif isinstance(scalar, int | float):
        value.number_value = float(scalar)
    else:
        value.string_value = str(scalar)
    return value


def filter_message(condition: Filter) -> common_pb2.FieldFilter:
    message = common_pb2.FieldFilter(field=condition.field, negate=condition.negate)
    if condition.equals is not None:
        message.equals.CopyFrom(_value(condition.equals))
    elif condition.any_of is not None:
        message.any_of.values.extend(_value(v) for v in condition.any_of)
    else:
        for bound in ("gt", "gte", "lt", "lte"):
            if getattr(condition, bound) is not None:
                setattr(message.range, bound, float(getattr(condition, bound)))
    return message


def filter_messages(filters: Iterable[Filter | str]) -> list[common_pb2.FieldFilter]:
    return [filter_message(f if isinstance(f, Filter) else Filter.parse(f)) for f in filters]


# -- ingest ---------------------------------------------------------------------------------------------------


def _header(
    doc_id: str,
    source: str,
    size: int,
    *,
    title: str,
    content_type: str,
    metadata: dict[str, Any],
    chunk_size: int,
    chunk_overlap: int,
) -> ingest_pb2.IngestDocumentsRequest:
    header = ingest_pb2.DocumentHeader(
        doc_id=doc_id,
        source=source,
        size_bytes=size,
        title=title,
        content_type=content_type,
        chunking=ingest_pb2.ChunkingOptions(chunk_size_tokens=chunk_size, chunk_overlap_tokens=chunk_overlap),
    )
    if metadata:
        header.metadata.update(metadata)
    return ingest_pb2.IngestDocumentsRequest(header=header)


def ingest_requests(
    items: Sequence[Document | LocalFile],
    *,
    chunk_size: int,
    chunk_overlap: int,
    on_bytes: Callable[[int], None],
    unreadable: dict[str, str],
) -> Iterator[ingest_pb2.IngestDocumentsRequest]:
    """Header, content parts (1 MiB) and end (with the sha256) per document; a file that cannot be opened is
    skipped and recorded in ``unreadable``. ``on_bytes`` is told the size of every part sent (and of a skipped
    file), so progress adds up to the total."""
    for item in items:
        options = dict(
            title=item.title,
            metadata=item.metadata,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
        )
        digest = hashlib.sha256()
        if isinstance(item, Document):
            yield _header(item.doc_id, item.source, item.size, content_type=item.content_type, **options)
            for start in range(0, len(item.data), CONTENT_PART_BYTES):
                part = item.data[start : start + CONTENT_PART_BYTES]
                digest.update(part)
                yield ingest_pb2.IngestDocumentsRequest(content=part)
                on_bytes(len(part))
        else:
            try:
                handle = item.path.open("rb")
            except OSError as exc:
                unreadable[item.doc_id] = f"cannot read: {exc.strerror or exc}"
                on_bytes(item.size)
                continue
            with handle:
                yield _header(item.doc_id, item.source, item.size, content_type="", **options)
                while part := handle.read(CONTENT_PART_BYTES):
                    digest.update(part)
                    yield ingest_pb2.IngestDocumentsRequest(content=part)
                    on_bytes(len(part))
        yield ingest_pb2.IngestDocumentsRequest(end=ingest_pb2.DocumentEnd(sha256=digest.hexdigest()))


def _document_error(result: ingest_pb2.DocumentResult) -> ErrorInfo | None:
    # error_status first; the deprecated error is what servers before it sent.
    if result.HasField("error_status"):
        return ErrorInfo(_CODE_NAMES.get(result.error_status.code, "UNKNOWN"), result.error_status.message)
    if result.HasField("error") and (result.error.code or result.error.message):
        return ErrorInfo(result.error.code, result.error.message)
    return None


def apply_ingest_result(target: DocumentResult, result: ingest_pb2.DocumentResult) -> None:
    target.outcome = _enum(result.outcome, ingest_pb2.IngestOutcome, "INGEST_OUTCOME_", IngestOutcome)
    if target.outcome == IngestOutcome.UNSPECIFIED:
        target.outcome = IngestOutcome.FAILED
    target.chunks = result.chunk_count
    target.flagged_chunks = result.flagged_chunks
    target.sequence = result.version.sequence
    target.content_hash = result.version.content_hash
    target.error = _document_error(result)


def status_request(doc_id: str) -> ingest_pb2.GetDocumentStatusRequest:
    return ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id)


def document_status(status: ingest_pb2.DocumentStatus) -> DocumentStatus:
    return DocumentStatus(
        doc_id=status.doc_id,
        source=status.source,
        title=status.title,
        state=_enum(status.state, ingest_pb2.DocumentState, "DOCUMENT_STATE_", DocumentState),
        sequence=status.version.sequence,
        content_hash=status.version.content_hash,
        chunks=status.chunk_count,
        indexed_chunks=status.indexed_chunks,
        reason=status.reason,
        updated_at=_timestamp(status, "updated_at"),
    )


def apply_status(target: DocumentResult, status: DocumentStatus) -> bool:
    """Record a polled status on a waited-for document; True when it is no longer pending.

    A newer version (another upload of the same doc_id) ends the wait for this one; a delete fails it.
    """
    superseded = status.sequence > target.sequence > 0
    target.state = status.state
    if status.state == DocumentState.FAILED:
        target.error = ErrorInfo("FAILED", status.reason or "indexing failed")
    elif status.state == DocumentState.DELETED:
        target.state, target.error = DocumentState.FAILED, ErrorInfo("FAILED", "deleted while waiting")
    elif superseded:
        target.superseded_by = status.sequence
    return superseded or status.state in (DocumentState.INDEXED, DocumentState.FAILED, DocumentState.DELETED)


def list_request(page_size: int, page_token: str, state: DocumentState | str | None) -> ingest_pb2.ListDocumentsRequest:
    request = ingest_pb2.ListDocumentsRequest(page_size=page_size, page_token=page_token)
    if state:
        request.state = ingest_pb2.DocumentState.Value(f"DOCUMENT_STATE_{DocumentState(state).value}")
    return request


def delete_request(doc_id: str) -> ingest_pb2.DeleteDocumentRequest:
    return ingest_pb2.DeleteDocumentRequest(doc_id=doc_id)


def deleted(reply: ingest_pb2.DeleteDocumentResponse) -> DeletedDocument:
    return DeletedDocument(reply.doc_id, reply.version.sequence)


# -- ask ------------------------------------------------------------------------------------------------------


def ask_request(
    streaming: bool,
    query: str,
    *,
    session_id: str | None,
    history: Iterable[tuple[str, str]] = (),
    filters: Iterable[Filter | str],
    top_k: int,
    top_n: int,
    max_tokens: int,
    temperature: float | None,
    bypass_cache: bool,
) -> Any:
    sampling = common_pb2.SamplingParams(max_tokens=max_tokens)
    if temperature is not None:
        sampling.temperature = temperature
    options = rag_pb2.AskOptions(top_k=top_k, top_n=top_n, bypass_cache=bypass_cache, sampling=sampling)
    kind = rag_pb2.AskStreamRequest if streaming else rag_pb2.AskRequest
    return kind(
        query=query,
        session_id=session_id or "",
        filters=filter_messages(filters),
        options=options,
        history=history_turns(history),
    )


_ROLES = {"user": common_pb2.CONVERSATION_ROLE_USER, "assistant": common_pb2.CONVERSATION_ROLE_ASSISTANT}


def history_turns(history: Iterable[tuple[str, str]]) -> list[common_pb2.ConversationTurn]:
    """(role, text) pairs, oldest first -> the request's history turns.

    Raises:
        ValueError: a role other than "user" or "assistant", naming the turn.
    """
    turns = []
    for index, (role, text) in enumerate(history):
        if role not in _ROLES:
            raise ValueError(f"history[{index}]: role must be 'user' or 'assistant', but got {role!r}")
        turns.append(common_pb2.ConversationTurn(role=_ROLES[role], text=text))
    return turns


def _verdict(message: common_pb2.GuardrailVerdict, present: bool) -> Verdict | None:
    if not present:
        return None
    return Verdict(
        action=_enum(message.action, common_pb2.GuardrailAction, "GUARDRAIL_ACTION_", GuardrailAction),
        findings=tuple(
            Finding(
                category=f.category,
                score=f.score,
                start=f.start,
                end=f.end,
                detector=f.detector,
                message=f.message,
                action=_enum(f.action, common_pb2.GuardrailAction, "GUARDRAIL_ACTION_", GuardrailAction),
            )
            for f in message.findings
        ),
        redacted_text=message.redacted_text,
        policy=message.policy,
        latency_ms=message.latency_ms,
    )


def _citation(c: common_pb2.Citation) -> Citation:
    return Citation(
        passage_number=c.passage_number,
        doc_id=c.doc_id,
        chunk_id=c.chunk_id,
        page=c.page,
        source=c.source,
        section_path=tuple(c.section_path),
        title=c.title,
    )


def answer(result: rag_pb2.AnswerResult) -> Answer:
    return Answer(
        request_id=result.request_id,
        answer=result.answer,
        citations=tuple(_citation(c) for c in result.citations),
        blocked=result.blocked,
        input_verdict=_verdict(result.input_verdict, result.HasField("input_verdict")),
        output_verdict=_verdict(result.output_verdict, result.HasField("output_verdict")),
        cache=_enum(result.cache, common_pb2.CacheOutcome, "CACHE_OUTCOME_", CacheOutcome),
        usage=Usage(result.usage.prompt_tokens, result.usage.completion_tokens),
        model=result.model,
        timings={t.stage: t.latency_ms for t in result.timings},
        session_id=result.session_id,
        dropped_citations=result.dropped_citations,
    )


def ask_event(message: rag_pb2.AskStreamResponse) -> TextDelta | FinalAnswer | BlockedAnswer:
    if message.WhichOneof("event") == "delta":
        return TextDelta(message.delta)
    final = answer(message.result)
    return BlockedAnswer(final) if final.blocked else FinalAnswer(final)


def feedback_request(request_id: str, rating: Rating | str, comment: str, corrected_answer: str) -> Any:
    value = common_pb2.FeedbackRating.Value(f"FEEDBACK_RATING_{Rating(rating).value}")
    return rag_pb2.FeedbackRequest(
        request_id=request_id, rating=value, comment=comment, corrected_answer=corrected_answer
    )


# -- search ---------------------------------------------------------------------------------------------------


def search_request(query: str, filters: Iterable[Filter | str], top_k: int, rerank: bool | None) -> Any:
    request = rag_pb2.RagServiceSearchRequest(query=query, filters=filter_messages(filters), top_k=top_k)
    if rerank is not None:
        request.rerank = rerank
    return request


def search_result(reply: rag_pb2.RagServiceSearchResponse) -> SearchResult:
    hits = [
        SearchHit(
            rank=hit.rank,
            score=hit.score,
            retrieval_score=hit.retrieval_score,
            rerank_score=hit.rerank_score if hit.HasField("rerank_score") else None,
            chunk_id=hit.chunk_id,
            doc_id=hit.doc_id,
            text=hit.text,
            title=hit.title,
            source=hit.source,
            page=hit.page,
            section_path=tuple(hit.section_path),
            chunk_index=hit.chunk_index,
            char_start=hit.char_start,
            char_end=hit.char_end,
            metadata=json_format.MessageToDict(hit.metadata) if hit.HasField("metadata") else {},
            flags=tuple(hit.flags),
        )
        for hit in reply.hits
    ]
    return SearchResult(
        request_id=reply.request_id,
        hits=hits,
        blocked=reply.blocked,
        input_verdict=_verdict(reply.input_verdict, reply.HasField("input_verdict")),
        reranked=reply.reranked,
        timings={t.stage: t.latency_ms for t in reply.timings},
    )


# -- eval -----------------------------------------------------------------------------------------------------


def run_dataset_request(dataset: str, limit: int, seed: int, retrieval_only: bool, skip_ingest: bool) -> Any:
    return eval_pb2.RunDatasetRequest(
        dataset_path=dataset, limit=limit, seed=seed, retrieval_only=retrieval_only, skip_ingest=skip_ingest
    )


def eval_report(report: eval_pb2.EvalReport) -> EvalReport:
    return EvalReport(
        run_id=report.run_id,
        dataset=report.dataset,
        questions=report.questions,
        metrics={m.name: m.value for m in report.metrics},
        started_at=_timestamp(report, "started_at"),
        finished_at=_timestamp(report, "finished_at"),
        rows_path=report.rows_path,
        tenant=report.tenant,
        retrieval_only=report.retrieval_only,
        judge=report.judge,
    )


def question_result(result: eval_pb2.QuestionResult) -> QuestionResult:
    if result.HasField("error_status"):
        error = ErrorInfo(_CODE_NAMES.get(result.error_status.code, "UNKNOWN"), result.error_status.message)
    else:
        error = ErrorInfo("UNKNOWN", result.error) if result.error else None
    return QuestionResult(
        question_id=result.question_id,
        question=result.question,
        reference_answers=tuple(result.reference_answers),
        relevant_doc_ids=tuple(result.relevant_doc_ids),
        request_id=result.request_id,
        answer=result.answer,
        blocked=result.blocked,
        retrieved={ranked.mode: list(ranked.doc_ids) for ranked in result.retrieved},
        cited_doc_ids=tuple(result.cited_doc_ids),
        metrics={m.name: m.value for m in result.metrics},
        error=error,
    )


def eval_event(message: eval_pb2.RunDatasetResponse) -> EvalEvent | None:
    kind = message.WhichOneof("event")
    if kind == "progress":
        return EvalProgress(message.progress.phase, message.progress.done, message.progress.total)
    if kind == "result":
        return question_result(message.result)
    if kind == "report":
        return eval_report(message.report)
    return None


def report_request(run_id: str) -> eval_pb2.GetReportRequest:
    return eval_pb2.GetReportRequest(run_id=run_id)
