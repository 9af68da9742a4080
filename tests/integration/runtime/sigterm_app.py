"""A minimal service process for the SIGTERM test: ``python sigterm_app.py PORT``. Embed sleeps for the
number of seconds given as its first text."""

from __future__ import annotations

import asyncio
import sys

from ragplane.runtime.server import run_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import embed_pb2, embed_pb2_grpc


class _Slow(embed_pb2_grpc.EmbedServiceServicer):
    async def Embed(self, request, context):
        await asyncio.sleep(float(request.texts[0]))
        return embed_pb2.EmbedResponse(dimensions=7)


class _App:
    name = "sigterm-probe"

    def register(self, server):
        embed_pb2_grpc.add_EmbedServiceServicer_to_server(_Slow(), server)
        return ["ragplane.v1.EmbedService"]

    async def start(self):
        return None

    async def stop(self):
        print("stopped cleanly", file=sys.stderr, flush=True)


if __name__ == "__main__":
    settings = load_settings(CommonSettings, grpc_listen=f"127.0.0.1:{sys.argv[1]}", metrics_listen="127.0.0.1:0")
    run_service(_App(), settings)
