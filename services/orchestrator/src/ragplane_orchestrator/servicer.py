"""gRPC servicer of the orchestrator: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import rag_pb2, rag_pb2_grpc

from ragplane_orchestrator.pipeline import Question

if TYPE_CHECKING:
    from ragplane_orchestrator.app import RagApp


def _question(request) -> Question:
    return Question(query=request.query, session_id=request.session_id, filters=list(request.filters),
                    options=request.options)


class RagServiceServicer(rag_pb2_grpc.RagServiceServicer):
    def __init__(self, app: "RagApp") -> None:
        self.app = app

    async def Ask(self, request, context):
        async for kind, payload in self.app.pipeline.run(_question(request), stream=False):
            if kind == "result":
                return rag_pb2.AskResponse(result=payload)
        raise RuntimeError("query pipeline ended without a result")

    async def AskStream(self, request, context):
        async for kind, payload in self.app.pipeline.run(_question(request), stream=True):
            if kind == "delta":
                yield rag_pb2.AskStreamResponse(delta=payload)
            else:
                yield rag_pb2.AskStreamResponse(result=payload)

    async def Feedback(self, request, context):
        await self.app.feedback.record(request)
        return rag_pb2.FeedbackResponse()
