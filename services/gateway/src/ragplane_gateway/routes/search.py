"""``POST /v1/search``: the passages of the caller's documents that match a query, without an answer.

It calls the orchestrator's Search, so the caller's key, tenant, rate limit and input guardrail apply as for Ask;
the hits come in the order the reranker gave them (or retrieval's, with ``rerank: false`` or while the reranker is
unavailable: ``reranked`` says which).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field

from ragplane.v1 import common_pb2, rag_pb2
from ragplane_gateway.deps import CallMetadata, bearer, settings_of, upstreams
from ragplane_gateway.filters import Filter, to_proto

router = APIRouter(tags=["search"], dependencies=[Depends(bearer)])

# Proto fields of RagServiceSearchRequest -> the request fields that set them (errors name what the caller sent).
SEARCH_FIELDS = {"query": "query", "top_k": "top_k", "filters": "filters", "rerank": "rerank"}


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, examples=["Where do glass herons migrate?"])
    top_k: int | None = Field(None, ge=1, le=200, description="hits returned (default: the orchestrator's top_n, 5)")
    filters: list[Filter] | None = Field(None, description="conditions on the passages (all must hold)")
    rerank: bool = Field(True, description="reorder the candidates with the reranker")


class SearchHit(BaseModel):
    rank: int = Field(description="one-based position")
    score: float = Field(description="the rerank score when reranked, else the retrieval score; higher is better")
    retrieval_score: float
    rerank_score: float | None = None
    doc_id: str
    chunk_id: str
    text: str
    title: str = ""
    source: str = Field("", description="file name or URI the document was ingested from")
    page: int = Field(0, description="one-based page; 0 when the format has no pages")
    section_path: list[str] = []
    chunk_index: int = 0
    char_start: int = 0
    char_end: int = 0
    metadata: dict[str, Any] = Field({}, description="the document's metadata as given at ingest")
    flags: list[str] = Field([], description="what the ingest-time document scan noted about the passage")


class SearchVerdict(BaseModel):
    action: str = Field(description="allow, mark, redact or block")
    categories: list[str] = Field([], description="what the input guardrail found")


class SearchResponse(BaseModel):
    request_id: str
    hits: list[SearchHit]
    reranked: bool = Field(description="the hits are in rerank order")
    blocked: bool = Field(description="the input guardrail refused the query (no hits)")
    input_verdict: SearchVerdict


def _hit(hit: rag_pb2.SearchHit) -> SearchHit:
    return SearchHit(
        rank=hit.rank,
        score=hit.score,
        retrieval_score=hit.retrieval_score,
        rerank_score=hit.rerank_score if hit.HasField("rerank_score") else None,
        doc_id=hit.doc_id,
        chunk_id=hit.chunk_id,
        text=hit.text,
        title=hit.title,
        source=hit.source,
        page=hit.page,
        section_path=list(hit.section_path),
        chunk_index=hit.chunk_index,
        char_start=hit.char_start,
        char_end=hit.char_end,
        metadata=json_format.MessageToDict(hit.metadata),
        flags=list(hit.flags),
    )


def _verdict(verdict: common_pb2.GuardrailVerdict) -> SearchVerdict:
    action = common_pb2.GuardrailAction.Name(verdict.action).removeprefix("GUARDRAIL_ACTION_").lower()
    return SearchVerdict(action=action, categories=[finding.category for finding in verdict.findings])


@router.post("/v1/search", response_model=SearchResponse, summary="The passages that match a query (no answer)")
async def search(body: SearchRequest, request: Request, metadata: CallMetadata) -> SearchResponse:
    message = rag_pb2.RagServiceSearchRequest(
        query=body.query, top_k=body.top_k or 0, filters=to_proto(body.filters), rerank=body.rerank
    )
    request.state.grpc_fields = SEARCH_FIELDS
    reply = await upstreams(request).rag.Search(
        message, metadata=metadata, timeout=settings_of(request).call_deadline_s
    )
    return SearchResponse(
        request_id=reply.request_id,
        hits=[_hit(hit) for hit in reply.hits],
        reranked=reply.reranked,
        blocked=reply.blocked,
        input_verdict=_verdict(reply.input_verdict),
    )
