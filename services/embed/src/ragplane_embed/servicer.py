"""gRPC servicer of the embed service: proto <-> domain conversion only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragplane.v1 import embed_pb2_grpc

if TYPE_CHECKING:
    from ragplane_embed.service import EmbedApp


class EmbedServiceServicer(embed_pb2_grpc.EmbedServiceServicer):
    def __init__(self, app: "EmbedApp") -> None:
        self.app = app
