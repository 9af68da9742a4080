"""The rerank service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import rerank_pb2_grpc
from ragplane_rerank.config import Settings
from ragplane_rerank.servicer import RerankServiceServicer


class RerankApp:
    name = "rerank"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        rerank_pb2_grpc.add_RerankServiceServicer_to_server(RerankServiceServicer(self), server)
        return ["ragplane.v1.RerankService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
