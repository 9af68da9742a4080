"""The guardrail service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import guardrail_pb2_grpc
from ragplane_guardrail.config import Settings
from ragplane_guardrail.servicer import GuardrailServiceServicer


class GuardrailApp:
    name = "guardrail"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server(GuardrailServiceServicer(self), server)
        return ["ragplane.v1.GuardrailService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
