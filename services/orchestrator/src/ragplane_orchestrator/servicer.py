"""gRPC servicer of the orchestrator service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import rag_pb2_grpc

if TYPE_CHECKING:
    from ragplane_orchestrator.service import RagApp


class RagServiceServicer(rag_pb2_grpc.RagServiceServicer):
    def __init__(self, app: "RagApp") -> None:
        self.app = app
