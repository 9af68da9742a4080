"""The rerank service's core wiring: backend selection, servicer registration, start and stop."""

from __future__ import annotations

import asyncio

import grpc

from ragplane.runtime.logs import get_logger
from ragplane.v1 import rerank_pb2_grpc
from ragplane_rerank.config import Settings
from ragplane_rerank.rerankers import CrossEncoderReranker, LateInteractionReranker, PassThroughReranker, Reranker
from ragplane_rerank.servicer import RerankServiceServicer

log = get_logger(__name__)


def build_reranker(settings: Settings) -> Reranker:
    """The backend the settings select (not yet warmed up)."""
    if settings.backend == "late-interaction":
        return LateInteractionReranker(
            settings.model_path or None,
            settings.retrieval_weight,
            max_length=settings.max_length,
            batch_size=settings.batch_size,
            cache_bytes=settings.cache_mb * 1024 * 1024,
        )
    if settings.backend == "cross-encoder":
        return CrossEncoderReranker(settings.model_path, batch_size=settings.batch_size, max_length=settings.max_length)
    if settings.backend == "triton":
        from ragplane_rerank.triton_backend import TritonReranker

        return TritonReranker(
            settings.triton_url,
            settings.triton_model,
            settings.triton_query_input,
            settings.triton_passage_input,
            settings.triton_score_output,
            batch_size=settings.batch_size,
            settings=settings,
        )
    return PassThroughReranker()


class RerankApp:
    """Reorders retrieval candidates behind ``ragplane.v1.RerankService``."""

    name = "rerank"

    def __init__(self, settings: Settings, reranker: Reranker | None = None) -> None:
        self.settings = settings
        self.reranker = reranker or build_reranker(settings)

    def register(self, server: grpc.aio.Server) -> list[str]:
        servicer = RerankServiceServicer(reranker=self.reranker, settings=self.settings)
        rerank_pb2_grpc.add_RerankServiceServicer_to_server(servicer, server)
        return ["ragplane.v1.RerankService"]

    async def start(self) -> None:
        await asyncio.to_thread(self.reranker.warm_up)
        log.info("rerank ready", backend=self.reranker.name)

    async def stop(self) -> None:
        close = getattr(self.reranker, "close", None)
        if close is not None:
            await close()
