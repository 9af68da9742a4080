"""REST for documents: upload (multipart, streamed to ingest's IngestDocuments as it arrives; uploads.py), status,
list, delete.

The tenant comes from the caller's key at ingest, as for gRPC clients; ``doc_id`` defaults to the file name.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import grpc
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from ragplane.runtime.rpc_status import document_error
from ragplane.v1 import ingest_pb2
from ragplane_gateway.deps import CallMetadata, bearer, settings_of, upstreams
from ragplane_gateway.errors import STATUS_MAP, ApiError
from ragplane_gateway.uploads import OPENAPI_BODY, Upload, boundary_of, ingest_requests

router = APIRouter(tags=["documents"], dependencies=[Depends(bearer)])

WAIT_POLL_S = 0.5
State = Literal["queued", "chunked", "indexed", "failed", "deleted", "deleting"]
STATES: dict[str, int] = {
    name.removeprefix("DOCUMENT_STATE_").lower(): number
    for name, number in ingest_pb2.DocumentState.items()
    if number != ingest_pb2.DOCUMENT_STATE_UNSPECIFIED
}
FINAL_STATES = {ingest_pb2.DOCUMENT_STATE_INDEXED, ingest_pb2.DOCUMENT_STATE_FAILED, ingest_pb2.DOCUMENT_STATE_DELETED}
UPLOAD_FIELDS = {
    "header.doc_id": "doc_id",
    "header.source": "file",
    "header.content_type": "file",
    "header.title": "title",
    "header.metadata": "metadata",
    "header.chunking.chunk_size_tokens": "chunk_size_tokens",
    "header.chunking.chunk_overlap_tokens": "chunk_overlap_tokens",
    "content": "file",
    "doc_id": "doc_id",
    "source": "file",
    "title": "title",
    "metadata": "metadata",
}


class Version(BaseModel):
    content_hash: str
    sequence: int


class DocumentStatus(BaseModel):
    doc_id: str
    source: str = ""
    title: str = ""
    state: State | Literal["unspecified"]
    version: Version | None = None
    chunk_count: int = 0
    indexed_chunks: int = 0
    reason: str = Field("", description="why the document failed")
    updated_at: str | None = Field(None, description="RFC 3339")


class UploadError(BaseModel):
    code: str = Field(description="gRPC status name, e.g. INVALID_ARGUMENT")
    message: str


class DocumentResult(BaseModel):
    doc_id: str
    source: str
    outcome: Literal["accepted", "unchanged", "failed"]
    version: Version | None = None
    chunk_count: int = 0
    flagged_chunks: int = Field(0, description="chunks removed or marked by the document scan")
    error: UploadError | None = None
    status: DocumentStatus | None = Field(None, description="with wait=true: the status the wait ended on")


class UploadResponse(BaseModel):
    documents: list[DocumentResult]


class DocumentList(BaseModel):
    documents: list[DocumentStatus]
    next_page_token: str = Field("", description="pass as page_token for the next page; empty on the last")


class Deleted(BaseModel):
    doc_id: str
    version: Version | None = None


def _version(version: ingest_pb2.DocumentVersion | None) -> Version | None:
    if version is None or not (version.content_hash or version.sequence):
        return None
    return Version(content_hash=version.content_hash, sequence=version.sequence)


def status_json(status: ingest_pb2.DocumentStatus) -> DocumentStatus:
    name = ingest_pb2.DocumentState.Name(status.state).removeprefix("DOCUMENT_STATE_").lower()
    return DocumentStatus(
        doc_id=status.doc_id,
        source=status.source,
        title=status.title,
        state=name,
        version=_version(status.version),
        chunk_count=status.chunk_count,
        indexed_chunks=status.indexed_chunks,
        reason=status.reason,
        updated_at=status.updated_at.ToJsonString() if status.HasField("updated_at") else None,
    )


def _result_json(result: ingest_pb2.DocumentResult) -> DocumentResult:
    outcome = ingest_pb2.IngestOutcome.Name(result.outcome).removeprefix("INGEST_OUTCOME_").lower()
    code, message = document_error(result)
    return DocumentResult(
        doc_id=result.doc_id,
        source=result.source,
        outcome=outcome if outcome in ("accepted", "unchanged", "failed") else "failed",
        version=_version(result.version),
        chunk_count=result.chunk_count,
        flagged_chunks=result.flagged_chunks,
        error=UploadError(code=code, message=message) if code else None,
    )


def _rejected(result: DocumentResult) -> ApiError:
    """The HTTP error of the one document of an upload that ingest rejected."""
    assert result.error is not None
    code = getattr(grpc.StatusCode, result.error.code, grpc.StatusCode.UNKNOWN)
    status, kind = STATUS_MAP.get(code, (500, "api_error"))
    field = result.error.message.split(":", 1)[0] if ": " in result.error.message else ""
    param = UPLOAD_FIELDS.get(field, "file") if status == 400 else None
    return ApiError(status, result.error.message, param=param, code=code.name.lower(), error_type=kind)


@router.post(
    "/v1/documents",
    response_model=UploadResponse,
    summary="Upload documents (multipart, streamed to ingest), optionally waiting until each is indexed or failed",
    openapi_extra={"requestBody": OPENAPI_BODY},
)
async def upload_documents(
    request: Request,
    metadata: CallMetadata,
    wait: Annotated[bool, Query(description="wait until each document is indexed or failed")] = False,
    wait_timeout_s: Annotated[float, Query(gt=0, description="longest wait (capped by the gateway)")] = 300.0,
) -> UploadResponse:
    settings = settings_of(request)
    request.state.grpc_fields = UPLOAD_FIELDS
    upload = Upload()
    boundary_of(request)  # a body that is not multipart is refused before any call
    call = upstreams(request).ingest.IngestDocuments(
        ingest_requests(request, upload), metadata=metadata, timeout=settings.ask_deadline_s
    )
    try:
        results = [_result_json(reply.result) async for reply in call]
    except grpc.aio.AioRpcError:
        if upload.error is not None:
            raise upload.error from None
        raise
    if upload.error is not None:
        raise upload.error
    if upload.files == 1 and len(results) == 1 and results[0].error is not None:
        raise _rejected(results[0])
    if wait:
        timeout = min(wait_timeout_s, settings.max_wait_s)
        await asyncio.gather(*(_wait(request, metadata, r, timeout) for r in results if r.error is None))
    return UploadResponse(documents=results)


async def _wait(request: Request, metadata: CallMetadata, result: DocumentResult, timeout_s: float) -> None:
    """Poll the document's status until it is final or ``timeout_s`` passed; keep the last status seen."""
    settings = settings_of(request)
    stub = upstreams(request).ingest
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout_s
    while True:
        reply = await stub.GetDocumentStatus(
            ingest_pb2.GetDocumentStatusRequest(doc_id=result.doc_id),
            metadata=metadata,
            timeout=settings.call_deadline_s,
        )
        result.status = status_json(reply.status)
        if reply.status.state in FINAL_STATES or loop.time() >= until:
            return
        await asyncio.sleep(min(WAIT_POLL_S, max(0.0, until - loop.time())))


@router.get("/v1/documents/{doc_id:path}", response_model=DocumentStatus, summary="The status of one document")
async def get_document(
    request: Request, metadata: CallMetadata, doc_id: Annotated[str, Path(min_length=1)]
) -> DocumentStatus:
    request.state.grpc_fields = {"doc_id": "doc_id"}
    reply = await upstreams(request).ingest.GetDocumentStatus(
        ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id),
        metadata=metadata,
        timeout=settings_of(request).call_deadline_s,
    )
    return status_json(reply.status)


@router.get("/v1/documents", response_model=DocumentList, summary="The tenant's documents, a page at a time")
async def list_documents(
    request: Request,
    metadata: CallMetadata,
    limit: Annotated[int, Query(ge=1, le=1000, description="documents per page")] = 100,
    page_token: Annotated[str, Query(description="next_page_token of the previous page")] = "",
    state: Annotated[State | None, Query(description="only documents in this state")] = None,
) -> DocumentList:
    request.state.grpc_fields = {"page_size": "limit", "page_token": "page_token", "state": "state"}
    reply = await upstreams(request).ingest.ListDocuments(
        ingest_pb2.ListDocumentsRequest(page_size=limit, page_token=page_token, state=STATES[state] if state else 0),
        metadata=metadata,
        timeout=settings_of(request).call_deadline_s,
    )
    return DocumentList(
        documents=[status_json(status) for status in reply.documents], next_page_token=reply.next_page_token
    )


@router.delete(
    "/v1/documents/{doc_id:path}",
    response_model=Deleted,
    summary="Delete a document (its state is deleting until the index confirms, then deleted)",
)
async def delete_document(
    request: Request, metadata: CallMetadata, doc_id: Annotated[str, Path(min_length=1)]
) -> Deleted:
    request.state.grpc_fields = {"doc_id": "doc_id"}
    reply = await upstreams(request).ingest.DeleteDocument(
        ingest_pb2.DeleteDocumentRequest(doc_id=doc_id),
        metadata=metadata,
        timeout=settings_of(request).call_deadline_s,
    )
    return Deleted(doc_id=reply.doc_id, version=_version(reply.version))
