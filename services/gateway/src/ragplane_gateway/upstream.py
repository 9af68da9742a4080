"""The gRPC channels the gateway calls through: the orchestrator (RagService) and ingest (IngestService).

The gateway holds no credentials of its own: every call carries the caller's ``authorization`` header, so the
services behind authenticate the key, pick the tenant and apply their policies exactly as for a gRPC client.
Channels come from the runtime (TLS when RAGPLANE_TLS_CA_FILE is set, per-call balancing, retries of
idempotent methods, tracing).
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ragplane.runtime.clients import service_channel
from ragplane.v1 import ingest_pb2_grpc, rag_pb2_grpc
from ragplane_gateway.config import Settings


class Upstreams:
    """Channels and stubs to the orchestrator and ingest; built without I/O, closed by ``close()``."""

    def __init__(self, settings: Settings) -> None:
        # The gateway never calls for a tenant of its own, so the service token is never sent (clients.py sends it
        # only for calls made inside an authenticated request); the caller's key travels instead.
        token = ""
        self.orchestrator_channel = service_channel(
            settings.orchestrator_addr, token, settings.ask_deadline_s, settings=settings
        )
        self.ingest_channel = service_channel(settings.ingest_addr, token, settings.call_deadline_s, settings=settings)
        self.rag = rag_pb2_grpc.RagServiceStub(self.orchestrator_channel)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self.ingest_channel)
        self._ready_timeout_s = settings.ready_timeout_s

    async def readiness(self) -> dict[str, str]:
        """Health of each upstream: ``{"orchestrator": "SERVING", "ingest": "UNAVAILABLE", ...}``."""
        names = ("orchestrator", "ingest")
        checks = [self._health(channel) for channel in (self.orchestrator_channel, self.ingest_channel)]
        return dict(zip(names, await asyncio.gather(*checks), strict=True))

    async def _health(self, channel: grpc.aio.Channel) -> str:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=self._ready_timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    async def close(self) -> None:
        await self.orchestrator_channel.close()
        await self.ingest_channel.close()
