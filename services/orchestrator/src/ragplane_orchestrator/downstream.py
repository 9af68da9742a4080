"""Typed calls to the services on the query path, timed, with failures translated into domain errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from ragplane.runtime.clients import service_channel
from ragplane.runtime.errors import RagplaneError, from_rpc_error
from ragplane.runtime.telemetry import STAGE_LATENCY
from ragplane.v1 import (
    embed_pb2,
    embed_pb2_grpc,
    generate_pb2_grpc,
    guardrail_pb2_grpc,
    rerank_pb2_grpc,
    retrieve_pb2_grpc,
)
from ragplane_orchestrator.config import Settings


@dataclass
class Timings:
    """Per-stage wall time of one request; downstream stages are summed to compute the overhead."""

    stages: list[tuple[str, float]] = field(default_factory=list)
    downstream_s: float = 0.0

    def add(self, stage: str, seconds: float, downstream: bool = True) -> None:
        self.stages.append((stage, seconds))
        if downstream:
            self.downstream_s += seconds
        STAGE_LATENCY.labels("orchestrator", stage).observe(seconds)


class Downstream:
    """Channels and stubs to guardrail, embed, retrieve, rerank and generate.

    The channels open in ``open()``: a grpc.aio channel belongs to the event loop it was made on, and that is
    the serving loop, which may not run yet when the App is built.
    """

    guardrail: guardrail_pb2_grpc.GuardrailServiceStub
    embed: embed_pb2_grpc.EmbedServiceStub
    retrieve: retrieve_pb2_grpc.RetrieveServiceStub
    rerank: rerank_pb2_grpc.RerankServiceStub
    generate: generate_pb2_grpc.GenerateServiceStub

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channels: dict[str, grpc.aio.Channel] = {}

    def open(self) -> None:
        """Make the channels and stubs (no I/O: channels connect on their first call)."""
        settings = self._settings
        self._channels = {
            name: service_channel(addr, settings.service_token, settings.default_deadline_s, settings=settings)
            for name, addr in {
                "guardrail": settings.guardrail_addr,
                "embed": settings.embed_addr,
                "retrieve": settings.retrieve_addr,
                "rerank": settings.rerank_addr,
                "generate": settings.generate_addr,
            }.items()
        }
        self.guardrail = guardrail_pb2_grpc.GuardrailServiceStub(self._channels["guardrail"])
        self.embed = embed_pb2_grpc.EmbedServiceStub(self._channels["embed"])
        self.retrieve = retrieve_pb2_grpc.RetrieveServiceStub(self._channels["retrieve"])
        self.rerank = rerank_pb2_grpc.RerankServiceStub(self._channels["rerank"])
        self.generate = generate_pb2_grpc.GenerateServiceStub(self._channels["generate"])

    async def call(
        self,
        service: str,
        stage: str,
        timings: Timings,
        rpc,
        request,
        translate: Callable[[grpc.aio.AioRpcError], RagplaneError] | None = None,
    ):
        """Invoke a unary RPC, record its latency under ``stage``, translate failures (with ``translate`` when
        given, else as any downstream failure)."""
        started = time.perf_counter()
        try:
            return await rpc(request)
        except grpc.aio.AioRpcError as exc:
            raise (translate(exc) if translate is not None else from_rpc_error(exc, service)) from None
        finally:
            timings.add(stage, time.perf_counter() - started)

    async def embed_query(self, text: str, timings: Timings) -> embed_pb2.Embedding:
        reply = await self.call(
            "embed",
            "embed",
            timings,
            self.embed.Embed,
            embed_pb2.EmbedRequest(texts=[text], input_type=embed_pb2.EMBED_INPUT_TYPE_QUERY, dense=True, sparse=True),
        )
        return reply.embeddings[0]

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
