"""Search without an answer: the request's checks, its caller-sent fields as retrieve judges them, and the hits."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from ragplane.runtime.errors import InvalidArgument, RagplaneError, from_rpc_error
from ragplane.v1 import common_pb2, rag_pb2
from ragplane_orchestrator.config import Settings

MAX_TOP_K = 200


def validate_search(request: rag_pb2.RagServiceSearchRequest, settings: Settings) -> None:
    """Refuse a malformed search before any stage runs.

    Raises:
        InvalidArgument: naming the field and the bad value.
    """
    if not request.query.strip():
        raise InvalidArgument("query", "must not be empty")
    if len(request.query) > settings.max_query_chars:
        raise InvalidArgument(
            "query", f"must be at most {settings.max_query_chars} characters, but got {len(request.query)}"
        )
    if request.top_k > MAX_TOP_K:
        raise InvalidArgument("top_k", f"must be <= {MAX_TOP_K}, but got {request.top_k}")
    for index, condition in enumerate(request.filters):
        if not condition.field:
            raise InvalidArgument(f"filters[{index}].field", "must not be empty")


def retrieve_error(exc: grpc.aio.AioRpcError) -> RagplaneError:
    """A failed retrieve Search (of Search or Ask) as the caller should see it.

    The filters go to retrieve exactly as the caller sent them, and retrieve alone knows which fields are
    filterable: its INVALID_ARGUMENT naming ``filters...`` is the caller's mistake and stays INVALID_ARGUMENT,
    with retrieve's message (it names the field). Anything else is translated as every downstream failure is.
    """
    details = exc.details() or ""
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("filters"):
        field, _, problem = details.partition(": ")
        return InvalidArgument(field, problem or "is not valid")
    return from_rpc_error(exc, "retrieve")


def to_hits(ranked: Sequence[common_pb2.ScoredChunk], reranked: bool) -> list[rag_pb2.SearchHit]:
    """The response's hits, best first; ``score`` is the rerank score when the reranker ordered them."""
    hits = []
    for rank, scored in enumerate(ranked, start=1):
        chunk, provenance = scored.chunk, scored.chunk.provenance
        hit = rag_pb2.SearchHit(
            rank=rank,
            retrieval_score=scored.retrieval_score,
            chunk_id=chunk.chunk_id,
            doc_id=provenance.doc_id,
            text=chunk.text,
            title=provenance.title,
            source=provenance.source,
            page=provenance.page,
            section_path=provenance.section_path,
            chunk_index=provenance.chunk_index,
            char_start=provenance.char_start,
            char_end=provenance.char_end,
            metadata=provenance.metadata,
            flags=chunk.flags,
        )
        if reranked and scored.HasField("rerank_score"):
            hit.rerank_score = scored.rerank_score
            hit.score = scored.rerank_score
        else:
            hit.score = scored.retrieval_score
        hits.append(hit)
    return hits
