"""gRPC servicer of the rerank service: proto <-> domain conversion only."""

from __future__ import annotations

import grpc

from ragplane.v1 import common_pb2, rerank_pb2, rerank_pb2_grpc
from ragplane_rerank import metrics
from ragplane_rerank.config import Settings
from ragplane_rerank.core import rerank
from ragplane_rerank.rerankers import Candidate, Reranker


class RerankServiceServicer(rerank_pb2_grpc.RerankServiceServicer):
    """``ragplane.v1.RerankService`` over a reranker (warmed up by the app before any call arrives)."""

    def __init__(self, *, reranker: Reranker, settings: Settings) -> None:
        self.reranker = reranker
        self.settings = settings

    async def Rerank(
        self, request: rerank_pb2.RerankRequest, context: grpc.aio.ServicerContext
    ) -> rerank_pb2.RerankResponse:
        candidates = [
            Candidate(
                text=c.chunk.text,
                retrieval_score=c.retrieval_score,
                retrieval_rank=c.retrieval_rank,
                title=c.chunk.provenance.title,
            )
            for c in request.candidates
        ]
        metrics.CANDIDATES.observe(len(candidates))
        threshold = request.score_threshold if request.HasField("score_threshold") else None
        ranked = await rerank(
            self.reranker,
            request.query,
            candidates,
            request.top_n or self.settings.default_top_n,
            threshold,
            self.settings.max_candidates,
        )
        results = []
        for item in ranked:
            scored = common_pb2.ScoredChunk()
            scored.CopyFrom(request.candidates[item.index])
            scored.rerank_score = item.score
            results.append(scored)
        return rerank_pb2.RerankResponse(results=results, model=self.reranker.name)
