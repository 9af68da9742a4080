"""gRPC servicer of the generate service: proto <-> domain conversion only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from ragplane.runtime.clients import DEADLINE_MARGIN_S
from ragplane.runtime.interceptors import remaining_time
from ragplane.v1 import common_pb2, generate_pb2, generate_pb2_grpc
from ragplane_generate.generator import GenerateInput, GenerationResult, Generator
from ragplane_generate.prompt import Passage, Turn

_ROLES = {common_pb2.CONVERSATION_ROLE_USER: "user", common_pb2.CONVERSATION_ROLE_ASSISTANT: "assistant"}


def to_input(request: generate_pb2.GenerateRequest | generate_pb2.GenerateStreamRequest) -> GenerateInput:
    passages = [
        Passage(
            chunk_id=chunk.chunk_id,
            text=chunk.text,
            doc_id=chunk.provenance.doc_id,
            page=chunk.provenance.page,
            title=chunk.provenance.title,
            source=chunk.provenance.source,
            section_path=tuple(chunk.provenance.section_path),
        )
        for chunk in request.context
    ]
    history = [Turn(_ROLES.get(turn.role, "user"), turn.text) for turn in request.history]
    sampling = request.sampling
    return GenerateInput(
        query=request.query,
        passages=passages,
        history=history,
        max_tokens=sampling.max_tokens,
        temperature=sampling.temperature if sampling.HasField("temperature") else None,
        top_p=sampling.top_p if sampling.HasField("top_p") else None,
        stop=tuple(sampling.stop),
        seed=sampling.seed if sampling.HasField("seed") else None,
    )


def to_proto(result: GenerationResult) -> generate_pb2.GenerationResult:
    return generate_pb2.GenerationResult(
        text=result.text,
        citations=[
            common_pb2.Citation(
                passage_number=c.passage_number,
                chunk_id=c.chunk_id,
                doc_id=c.doc_id,
                page=c.page,
                source=c.source,
                section_path=list(c.section_path),
                title=c.title,
            )
            for c in result.citations
        ],
        dropped_citations=result.dropped_citations,
        usage=common_pb2.Usage(prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens),
        model=result.model,
        finish_reason=result.finish_reason,
        ttft_ms=result.ttft_ms,
        truncated_passages=result.truncated_passages,
    )


class GenerateServiceServicer(generate_pb2_grpc.GenerateServiceServicer):
    """``ragplane.v1.GenerateService`` over the generator (its model client started before any call arrives)."""

    def __init__(self, *, generator: Generator) -> None:
        self.generator = generator

    @staticmethod
    def _timeout() -> float:
        return max(0.001, (remaining_time(30.0) or 0.0) - DEADLINE_MARGIN_S)

    async def Generate(
        self, request: generate_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> generate_pb2.GenerateResponse:
        result = await self.generator.generate(to_input(request), self._timeout())
        return generate_pb2.GenerateResponse(result=to_proto(result))

    async def GenerateStream(
        self, request: generate_pb2.GenerateStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[generate_pb2.GenerateStreamResponse]:
        async for item in self.generator.stream(to_input(request), self._timeout()):
            if isinstance(item, str):
                yield generate_pb2.GenerateStreamResponse(delta=item)
            else:
                yield generate_pb2.GenerateStreamResponse(result=to_proto(item))
