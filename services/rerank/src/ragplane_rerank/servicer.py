"""gRPC servicer of the rerank service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import rerank_pb2_grpc

if TYPE_CHECKING:
    from ragplane_rerank.service import RerankApp


class RerankServiceServicer(rerank_pb2_grpc.RerankServiceServicer):
    def __init__(self, app: "RerankApp") -> None:
        self.app = app
