"""The ingest service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import ingest_pb2_grpc
from ragplane_ingest.config import Settings
from ragplane_ingest.servicer import IngestServiceServicer


class IngestApp:
    name = "ingest"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(IngestServiceServicer(self), server)
        return ["ragplane.v1.IngestService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
