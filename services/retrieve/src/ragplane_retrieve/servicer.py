"""gRPC servicer of the retrieve service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import retrieve_pb2_grpc

if TYPE_CHECKING:
    from ragplane_retrieve.service import RetrieveApp


class RetrieveServiceServicer(retrieve_pb2_grpc.RetrieveServiceServicer):
    def __init__(self, app: "RetrieveApp") -> None:
        self.app = app
