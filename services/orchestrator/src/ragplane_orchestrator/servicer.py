"""gRPC servicer of the orchestrator: proto <-> domain conversion only."""

from __future__ import annotations

from ragplane.v1 import rag_pb2, rag_pb2_grpc
from ragplane_orchestrator.feedback import FeedbackRecorder
from ragplane_orchestrator.pipeline import QueryPipeline
from ragplane_orchestrator.question import Question, history_of
from ragplane_orchestrator.stream import Delta, Final


def _question(request) -> Question:
    return Question(
        query=request.query,
        session_id=request.session_id,
        filters=list(request.filters),
        options=request.options,
        history=history_of(request.history),
    )


class RagServiceServicer(rag_pb2_grpc.RagServiceServicer):
    """Ask, AskStream, Search and Feedback over the query pipeline and the feedback recorder."""

    def __init__(self, pipeline: QueryPipeline, feedback: FeedbackRecorder) -> None:
        self._pipeline = pipeline
        self._feedback = feedback

    async def Ask(self, request, context):
        async for event in self._pipeline.run(_question(request), stream=False):
            if isinstance(event, Final):
                return rag_pb2.AskResponse(result=event.result)
        raise RuntimeError("query pipeline ended without a result")

    async def AskStream(self, request, context):
        async for event in self._pipeline.run(_question(request), stream=True):
            match event:
                case Delta(text=text):
                    yield rag_pb2.AskStreamResponse(delta=text)
                case Final(result=result):
                    yield rag_pb2.AskStreamResponse(result=result)

    async def Search(self, request, context):
        return await self._pipeline.search(request)

    async def Feedback(self, request, context):
        await self._feedback.record(request)
        return rag_pb2.FeedbackResponse()
