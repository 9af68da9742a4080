"""The retrieve service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import retrieve_pb2_grpc
from ragplane_retrieve.config import Settings
from ragplane_retrieve.servicer import RetrieveServiceServicer


class RetrieveApp:
    name = "retrieve"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        retrieve_pb2_grpc.add_RetrieveServiceServicer_to_server(RetrieveServiceServicer(self), server)
        return ["ragplane.v1.RetrieveService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
