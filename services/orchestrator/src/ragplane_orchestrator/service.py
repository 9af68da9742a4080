"""The orchestrator service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import rag_pb2_grpc
from ragplane_orchestrator.config import Settings
from ragplane_orchestrator.servicer import RagServiceServicer


class RagApp:
    name = "orchestrator"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        rag_pb2_grpc.add_RagServiceServicer_to_server(RagServiceServicer(self), server)
        return ["ragplane.v1.RagService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
