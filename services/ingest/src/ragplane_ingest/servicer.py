"""gRPC servicer of the ingest service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import ingest_pb2_grpc

if TYPE_CHECKING:
    from ragplane_ingest.service import IngestApp


class IngestServiceServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, app: "IngestApp") -> None:
        self.app = app
