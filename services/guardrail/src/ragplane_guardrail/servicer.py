"""gRPC servicer of the guardrail service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import guardrail_pb2_grpc

if TYPE_CHECKING:
    from ragplane_guardrail.service import GuardrailApp


class GuardrailServiceServicer(guardrail_pb2_grpc.GuardrailServiceServicer):
    def __init__(self, app: "GuardrailApp") -> None:
        self.app = app
