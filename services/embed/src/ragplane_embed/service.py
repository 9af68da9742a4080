"""The embed service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import embed_pb2_grpc
from ragplane_embed.config import Settings
from ragplane_embed.servicer import EmbedServiceServicer


class EmbedApp:
    name = "embed"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        embed_pb2_grpc.add_EmbedServiceServicer_to_server(EmbedServiceServicer(self), server)
        return ["ragplane.v1.EmbedService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
