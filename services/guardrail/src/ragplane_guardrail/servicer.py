"""gRPC servicer of the guardrail service: proto <-> domain conversion only."""

from __future__ import annotations

from ragplane.runtime.context import current_tenant
from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import common_pb2, guardrail_pb2, guardrail_pb2_grpc
from ragplane_guardrail.config import Settings
from ragplane_guardrail.engine import GuardrailEngine
from ragplane_guardrail.verdict import CitationRef, DocumentChunk, Passage, Verdict
from ragplane_guardrail.workers import CheckPool


def verdict_to_proto(verdict: Verdict) -> common_pb2.GuardrailVerdict:
    return common_pb2.GuardrailVerdict(
        action=int(verdict.action),
        findings=[
            common_pb2.GuardrailFinding(
                category=f.category,
                score=f.score,
                start=f.start,
                end=f.end,
                detector=f.detector,
                message=f.message,
                action=int(f.action),
            )
            for f in verdict.findings
        ],
        redacted_text=verdict.redacted_text,
        policy=verdict.policy,
        latency_ms=verdict.latency_ms,
    )


class GuardrailServiceServicer(guardrail_pb2_grpc.GuardrailServiceServicer):
    """``ragplane.v1.GuardrailService``: the engine's checks, run in the worker pool."""

    def __init__(self, *, engine: GuardrailEngine, pool: CheckPool, settings: Settings) -> None:
        self.engine = engine
        self.pool = pool
        self.settings = settings

    async def CheckInput(self, request: guardrail_pb2.CheckInputRequest, context) -> guardrail_pb2.CheckInputResponse:
        if not request.text:
            raise InvalidArgument("text", "must not be empty")
        engine = self.engine
        policy = engine.policy_for(current_tenant())
        verdict = await self.pool.run(engine.check_input, request.text, policy)
        return guardrail_pb2.CheckInputResponse(verdict=verdict_to_proto(verdict))

    async def CheckOutput(
        self, request: guardrail_pb2.CheckOutputRequest, context
    ) -> guardrail_pb2.CheckOutputResponse:
        if not request.answer:
            raise InvalidArgument("answer", "must not be empty")
        limit = self.settings.max_passages
        if len(request.context) > limit:
            raise InvalidArgument("context", f"at most {limit} passages per request, but got {len(request.context)}")
        engine = self.engine
        policy = engine.policy_for(current_tenant())
        passages = [
            Passage(number, chunk.text, chunk.chunk_id) for number, chunk in enumerate(request.context, start=1)
        ]
        citations = [CitationRef(c.passage_number, c.chunk_id) for c in request.citations]
        result = await self.pool.run(engine.check_output, request.answer, passages, citations, policy)
        return guardrail_pb2.CheckOutputResponse(
            verdict=verdict_to_proto(result.verdict),
            unsupported=[
                guardrail_pb2.UnsupportedSentence(text=s.text, start=s.start, end=s.end, support=s.support)
                for s in result.unsupported
            ],
            grounding_score=result.grounding_score,
            invalid_citations=list(result.invalid_citations),
        )

    async def ScanDocument(
        self, request: guardrail_pb2.ScanDocumentRequest, context
    ) -> guardrail_pb2.ScanDocumentResponse:
        if not request.doc_id:
            raise InvalidArgument("doc_id", "must not be empty")
        if not request.chunks:
            raise InvalidArgument("chunks", "must not be empty")
        limit = self.settings.max_chunks
        if len(request.chunks) > limit:
            raise InvalidArgument("chunks", f"at most {limit} per request, but got {len(request.chunks)}")
        engine = self.engine
        policy = engine.policy_for(current_tenant())
        # A chunk's index is its provenance.chunk_index when the caller set provenance, else its position.
        chunks = [
            DocumentChunk(chunk.provenance.chunk_index if chunk.HasField("provenance") else position, chunk.text)
            for position, chunk in enumerate(request.chunks)
        ]
        results = []
        for chunk in chunks:
            # One pool job per chunk: a check queued meanwhile (another tenant's Ask) runs between two chunks
            # instead of after the whole document, and a cancelled scan stops at the next chunk.
            results.extend(await self.pool.run(engine.scan_document, [chunk], policy))
        return guardrail_pb2.ScanDocumentResponse(
            verdicts=[
                guardrail_pb2.ChunkVerdict(chunk_index=r.chunk_index, verdict=verdict_to_proto(r.verdict))
                for r in results
            ]
        )
