"""The eval service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import grpc

from ragplane.v1 import eval_pb2_grpc
from ragplane_eval.config import Settings
from ragplane_eval.servicer import EvalServiceServicer


class EvalApp:
    name = "eval"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, server: grpc.aio.Server) -> list[str]:
        eval_pb2_grpc.add_EvalServiceServicer_to_server(EvalServiceServicer(self), server)
        return ["ragplane.v1.EvalService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
