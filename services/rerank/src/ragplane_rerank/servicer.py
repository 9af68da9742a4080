"""gRPC servicer of the rerank service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from ragplane.v1 import common_pb2, rerank_pb2, rerank_pb2_grpc
from ragplane_rerank import metrics
from ragplane_rerank.core import rerank
from ragplane_rerank.rerankers import Candidate

if TYPE_CHECKING:
    from ragplane_rerank.app import RerankApp


class RerankServiceServicer(rerank_pb2_grpc.RerankServiceServicer):
    def __init__(self, app: "RerankApp") -> None:
        self.app = app

    async def Rerank(self, request: rerank_pb2.RerankRequest,
                     context: grpc.aio.ServicerContext) -> rerank_pb2.RerankResponse:
        candidates = [
            Candidate(text=c.chunk.text, retrieval_score=c.retrieval_score, retrieval_rank=c.retrieval_rank,
                      title=c.chunk.provenance.title)
            for c in request.candidates
        ]
        metrics.CANDIDATES.observe(len(candidates))
        threshold = request.score_threshold if request.HasField("score_threshold") else None
        ranked = await rerank(self.app.reranker, request.query, candidates,
                              request.top_n or self.app.settings.default_top_n, threshold,
                              self.app.settings.max_candidates)
        results = []
        for item in ranked:
            scored = common_pb2.ScoredChunk()
            scored.CopyFrom(request.candidates[item.index])
            scored.rerank_score = item.score
            results.append(scored)
        return rerank_pb2.RerankResponse(results=results, model=self.app.reranker.name)
