"""gRPC servicer of the generate service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import generate_pb2_grpc

if TYPE_CHECKING:
    from ragplane_generate.service import GenerateApp


class GenerateServiceServicer(generate_pb2_grpc.GenerateServiceServicer):
    def __init__(self, app: "GenerateApp") -> None:
        self.app = app
