"""The v2 model client (generate -> Triton, embed/rerank/eval -> Triton) with the runtime's channel options:
per-call round_robin over a headless name, TLS to the model server, and a channel replaced at its maximum age.

Triton sets no maximum connection age, so the stand-in v2 servers here set none either: a replica added while a
caller is connected is reached only because the client replaces its channel (RAGPLANE_MODEL_CHANNEL_MAX_AGE_S).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc
import numpy as np
import pytest
from support.dnsstub import name_server
from tritonclient.grpc import service_pb2, service_pb2_grpc

from ragplane.runtime.inference import BlockingInferenceClient, InferenceClient
from ragplane.runtime.settings import CommonSettings, load_settings

pytestmark = pytest.mark.integration

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
NAME = "triton-headless.ragplane.test"
INPUTS = {"text_input": np.array([b"hello"], dtype=np.object_)}


class _Replica(service_pb2_grpc.GRPCInferenceServiceServicer):
    """A v2 server replica that counts the ModelInfer calls it served (no connection age, like Triton)."""

    def __init__(self, host: str, served: Counter[str]) -> None:
        self.host, self.served = host, served

    async def ModelInfer(self, request, context):  # noqa: N802 - gRPC method name
        self.served[self.host] += 1
        return service_pb2.ModelInferResponse(model_name=request.model_name, id=request.id)

    async def ModelReady(self, request, context):  # noqa: N802 - gRPC method name
        return service_pb2.ModelReadyResponse(ready=True)

    async def ServerLive(self, request, context):  # noqa: N802 - gRPC method name
        return service_pb2.ServerLiveResponse(live=True)


class _Replicas:
    def __init__(self) -> None:
        self.served: Counter[str] = Counter()
        self.servers: list[grpc.aio.Server] = []
        self.port = 0

    async def start(self, host: str, credentials: grpc.ServerCredentials | None = None) -> int:
        server = grpc.aio.server()
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(_Replica(host, self.served), server)
        address = f"{host}:{self.port}"
        self.port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
        await server.start()
        self.servers.append(server)
        return self.port

    async def stop(self) -> None:
        for server in self.servers:
            await server.stop(0)


@pytest.fixture
async def replicas():
    group = _Replicas()
    yield group
    await group.stop()


def _client_settings(**overrides) -> CommonSettings:
    return load_settings(CommonSettings, {}, grpc_dns_refresh_s=0.2, **overrides)


async def _late_replica_share(replicas: _Replicas, max_age_s: float, wait_s: float) -> tuple[float | None, float]:
    """Two replicas, a client, a third replica added to the name: (seconds until it got a call or None, its share
    of the next 150 calls)."""
    port = await replicas.start(HOSTS[0])
    await replicas.start(HOSTS[1])
    async with name_server(NAME, list(HOSTS[:2])) as (names, dns_port):
        client = InferenceClient(
            f"dns://127.0.0.1:{dns_port}/{NAME}:{port}",
            "ensemble",
            settings=_client_settings(model_channel_max_age_s=max_age_s),
        )
        try:
            for _ in range(20):
                await client.infer(INPUTS, timeout_s=5)
            spread = {host: replicas.served[host] for host in HOSTS[:2]}
            assert all(count >= 5 for count in spread.values()), f"round_robin over the name: {spread}"
            await replicas.start(HOSTS[2])
            names.hosts.append(HOSTS[2])
            began, reached = time.monotonic(), None
            while time.monotonic() - began < wait_s:
                await client.infer(INPUTS, timeout_s=5)
                if replicas.served[HOSTS[2]]:
                    reached = time.monotonic() - began
                    break
                await asyncio.sleep(0.01)
            before = replicas.served[HOSTS[2]]
            for _ in range(150):
                await client.infer(INPUTS, timeout_s=5)
            return reached, (replicas.served[HOSTS[2]] - before) / 150
        finally:
            await client.close()


async def test_without_a_channel_age_a_replica_added_later_gets_no_calls(replicas):
    """What happens with Triton and a client that keeps its channel: the new replica stays idle."""
    reached, share = await _late_replica_share(replicas, max_age_s=0.0, wait_s=3.0)
    print(f"channel kept: third replica reached after {reached} s, share of the next 150 calls {share:.2f}")
    assert reached is None and share == 0.0


async def test_a_replica_added_later_gets_calls_once_the_client_replaces_its_channel(replicas):
    reached, share = await _late_replica_share(replicas, max_age_s=1.0, wait_s=10.0)
    print(f"channel age 1 s: third replica reached after {reached:.2f} s, share of the next 150 calls {share:.2f}")
    assert reached is not None and reached < 5.0
    assert share >= 0.2, share


async def test_the_v2_client_reaches_a_tls_model_server_verified_with_the_ca(replicas, pki):
    credentials = grpc.ssl_server_credentials([(pki.server.key.read_bytes(), pki.server.cert.read_bytes())])
    port = await replicas.start("127.0.0.1", credentials)
    tls = _client_settings(tls_ca_file=str(pki.ca), model_server_tls=True)
    client = InferenceClient(f"localhost:{port}", "ensemble", settings=tls)
    untrusted = InferenceClient(
        f"localhost:{port}",
        "ensemble",
        settings=_client_settings(tls_ca_file=str(pki.foreign_ca), model_server_tls=True),
    )
    plaintext = InferenceClient(f"localhost:{port}", "ensemble", settings=_client_settings())
    try:
        assert await client.is_ready()
        await client.infer(INPUTS, timeout_s=5)
        assert not await untrusted.is_ready()
        assert not await plaintext.is_ready()
    finally:
        for each in (client, untrusted, plaintext):
            await each.close()
    blocking = BlockingInferenceClient(f"localhost:{port}", "ensemble", settings=tls)
    try:
        await asyncio.to_thread(blocking.ready)
    finally:
        blocking.close()
    assert replicas.served["127.0.0.1"] == 1
