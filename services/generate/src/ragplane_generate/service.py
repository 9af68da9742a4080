"""The generate service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import generate_pb2_grpc
from ragplane_generate.config import Settings
from ragplane_generate.servicer import GenerateServiceServicer


class GenerateApp:
    name = "generate"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        generate_pb2_grpc.add_GenerateServiceServicer_to_server(GenerateServiceServicer(self), server)
        return ["ragplane.v1.GenerateService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
