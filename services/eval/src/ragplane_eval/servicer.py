"""gRPC servicer of the eval service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import eval_pb2_grpc

if TYPE_CHECKING:
    from ragplane_eval.service import EvalApp


class EvalServiceServicer(eval_pb2_grpc.EvalServiceServicer):
    def __init__(self, app: "EvalApp") -> None:
        self.app = app
