"""gRPC servicer of the ingest service: proto <-> domain conversion only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from ragplane.runtime.context import current_request_id, current_tenant
from ragplane.runtime.errors import InvalidArgument, RagplaneError
from ragplane.runtime.logs import get_logger
from ragplane.runtime.rpc_status import to_status
from ragplane.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc
from ragplane_ingest import registry
from ragplane_ingest.pipeline import DocumentSpec, IngestPipeline, IngestResult
from ragplane_ingest.uploads import Upload, UploadAssembler

log = get_logger(__name__)

_OUTCOMES = {"ACCEPTED": ingest_pb2.INGEST_OUTCOME_ACCEPTED, "UNCHANGED": ingest_pb2.INGEST_OUTCOME_UNCHANGED}
_STATES = {
    registry.QUEUED: ingest_pb2.DOCUMENT_STATE_QUEUED,
    registry.CHUNKED: ingest_pb2.DOCUMENT_STATE_CHUNKED,
    registry.INDEXED: ingest_pb2.DOCUMENT_STATE_INDEXED,
    registry.FAILED: ingest_pb2.DOCUMENT_STATE_FAILED,
    registry.DELETING: ingest_pb2.DOCUMENT_STATE_DELETING,
    registry.DELETED: ingest_pb2.DOCUMENT_STATE_DELETED,
}
_STATE_NAMES = {value: name for name, value in _STATES.items()}


def spec_from_header(header: ingest_pb2.DocumentHeader) -> DocumentSpec:
    return DocumentSpec(
        doc_id=header.doc_id,
        source=header.source,
        content_type=header.content_type,
        title=header.title,
        metadata=json_format.MessageToDict(header.metadata) if header.HasField("metadata") else {},
        chunk_size=header.chunking.chunk_size_tokens,
        chunk_overlap=header.chunking.chunk_overlap_tokens,
        size_bytes=header.size_bytes,
    )


def result_to_proto(result: IngestResult) -> ingest_pb2.DocumentResult:
    return ingest_pb2.DocumentResult(
        doc_id=result.doc_id,
        source=result.source,
        outcome=_OUTCOMES[result.outcome],
        version=common_pb2.DocumentVersion(content_hash=result.content_hash, sequence=result.sequence),
        chunk_count=result.chunk_count,
        flagged_chunks=result.flagged_chunks,
    )


def failure_to_proto(doc_id: str, source: str, code: grpc.StatusCode, message: str) -> ingest_pb2.DocumentResult:
    # ``error`` is still filled for readers that predate ``error_status``.
    return ingest_pb2.DocumentResult(
        doc_id=doc_id,
        source=source,
        outcome=ingest_pb2.INGEST_OUTCOME_FAILED,
        error_status=to_status(code, message),
        error=ingest_pb2.DocumentError(code=code.name, message=message),
    )


def status_to_proto(record: registry.DocumentRecord) -> ingest_pb2.DocumentStatus:
    updated_at = Timestamp()
    updated_at.FromNanoseconds(int(record.updated_at * 1e9))
    return ingest_pb2.DocumentStatus(
        doc_id=record.doc_id,
        source=record.source,
        title=record.title,
        state=_STATES.get(record.state, ingest_pb2.DOCUMENT_STATE_UNSPECIFIED),
        version=common_pb2.DocumentVersion(content_hash=record.content_hash, sequence=record.sequence),
        chunk_count=record.chunk_count,
        reason=record.reason,
        updated_at=updated_at,
        indexed_chunks=record.indexed_chunks,
    )


class IngestServiceServicer(ingest_pb2_grpc.IngestServiceServicer):
    """``ragplane.v1.IngestService`` over the ingest pipeline (warmed up by the app before any call arrives)."""

    def __init__(self, *, pipeline: IngestPipeline) -> None:
        self.pipeline = pipeline

    async def IngestDocuments(
        self, request_iterator: AsyncIterator[ingest_pb2.IngestDocumentsRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[ingest_pb2.IngestDocumentsResponse]:
        pipeline = self.pipeline
        tenant = current_tenant()
        assembler = UploadAssembler(pipeline, tenant)
        async with pipeline.quotas.call(tenant):
            async for request in request_iterator:
                part = request.WhichOneof("part")
                if part == "header":
                    assembler.header(spec_from_header(request.header))
                elif part == "content":
                    await assembler.content(request.content)
                elif part == "end":
                    upload = assembler.end(request.end.sha256)
                    yield ingest_pb2.IngestDocumentsResponse(result=await self._ingest_one(pipeline, tenant, upload))
                else:
                    raise InvalidArgument("part", "each request must set header, content or end")
            assembler.finish()

    async def _ingest_one(self, pipeline: IngestPipeline, tenant: str, upload: Upload) -> ingest_pb2.DocumentResult:
        """A failed document is a failed result; the stream goes on."""
        if upload.rejection is not None:
            return failure_to_proto(upload.doc_id, upload.source, upload.rejection.code, upload.rejection.message)
        assert upload.prepared is not None
        try:
            result = await pipeline.ingest(tenant, upload.prepared, upload.data, upload.sha256)
        except RagplaneError as exc:
            return failure_to_proto(upload.doc_id, upload.source, exc.code, exc.message)
        except Exception as exc:  # noqa: BLE001 - one document's bug must not end the others' stream
            log.error("document failed unexpectedly", doc_id=upload.doc_id, exc_info=exc)
            return failure_to_proto(
                upload.doc_id,
                upload.source,
                grpc.StatusCode.INTERNAL,
                f"internal error (request_id={current_request_id()})",
            )
        return result_to_proto(result)

    async def UpsertDocument(
        self, request: ingest_pb2.UpsertDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.UpsertDocumentResponse:
        pipeline = self.pipeline
        tenant = current_tenant()
        async with pipeline.quotas.call(tenant):
            await pipeline.quotas.charge(tenant, len(request.content))
            prepared = pipeline.prepare(spec_from_header(request.header))
            result = await pipeline.ingest(tenant, prepared, request.content)
        return ingest_pb2.UpsertDocumentResponse(result=result_to_proto(result))

    async def DeleteDocument(
        self, request: ingest_pb2.DeleteDocumentRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.DeleteDocumentResponse:
        version = await self.pipeline.delete(current_tenant(), request.doc_id)
        return ingest_pb2.DeleteDocumentResponse(doc_id=request.doc_id, version=version)

    async def GetDocumentStatus(
        self, request: ingest_pb2.GetDocumentStatusRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.GetDocumentStatusResponse:
        record = await self.pipeline.status(current_tenant(), request.doc_id)
        return ingest_pb2.GetDocumentStatusResponse(status=status_to_proto(record))

    async def ListDocuments(
        self, request: ingest_pb2.ListDocumentsRequest, context: grpc.aio.ServicerContext
    ) -> ingest_pb2.ListDocumentsResponse:
        state = ""
        if request.state != ingest_pb2.DOCUMENT_STATE_UNSPECIFIED:
            if request.state not in _STATE_NAMES:
                raise InvalidArgument("state", f"unknown document state {request.state}")
            state = _STATE_NAMES[request.state]
        records, token = await self.pipeline.list(
            current_tenant(), page_size=request.page_size, page_token=request.page_token, state=state
        )
        return ingest_pb2.ListDocumentsResponse(documents=[status_to_proto(r) for r in records], next_page_token=token)
