"""Per-call load balancing of runtime channels over real servers of one service on three loopback addresses.

A channel to ``ipv4:127.0.0.1:P,127.0.0.2:P`` or to a ``dns:///`` name with two A records takes the same path
in gRPC (a resolver's address list -> the round_robin policy), so a static list shows the spread. Replicas that
start later are reached through a DNS name served by a stub name server this test controls: the servers close
connections at their maximum age, the channel looks the name up again and the new replica gets calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest

from ragplane.runtime.clients import service_channel
from ragplane.runtime.server import RunningService, start_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import embed_pb2, embed_pb2_grpc

pytestmark = pytest.mark.integration

HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
NAME = "embed-headless.ragplane.test"
USER = [("authorization", "Bearer user-key")]


class _Answering(embed_pb2_grpc.EmbedServiceServicer):
    """Answers Embed with the replica's host and counts the calls each replica served."""

    def __init__(self, host: str, served: Counter[str]) -> None:
        self.host, self.served = host, served

    async def Embed(self, request, context):
        self.served[self.host] += 1
        return embed_pb2.EmbedResponse(dense_model=self.host)


class _Replica:
    """One replica of a service: the real runtime (interceptors, health, server options) around ``_Answering``."""

    name = "embed"

    def __init__(self, host: str, served: Counter[str]) -> None:
        self.servicer = _Answering(host, served)

    def register(self, server: grpc.aio.Server) -> list[str]:
        embed_pb2_grpc.add_EmbedServiceServicer_to_server(self.servicer, server)
        return ["ragplane.v1.EmbedService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


def _settings(listen: str, **overrides) -> CommonSettings:
    return load_settings(
        CommonSettings,
        {},
        grpc_listen=listen,
        api_keys="user-key=acme",
        service_token="svc-token-" + "x" * 32,
        allow_dev_key=True,
        grace_period_s=0.0,
        **overrides,
    )


@pytest.fixture
async def replicas() -> AsyncIterator:
    """Starts replicas on HOSTS[i]:port (the first picks the port); yields (start, served per host)."""
    served: Counter[str] = Counter()
    running: list[RunningService] = []
    port = 0

    async def start(host: str, **overrides) -> int:
        nonlocal port
        service = await start_service(_Replica(host, served), _settings(f"{host}:{port}", **overrides), metrics=False)
        await service.set_serving(True)
        running.append(service)
        port = service.port
        return port

    yield start, served
    for service in running:
        await service.server.stop(0)


async def _call_many(channel: grpc.aio.Channel, calls: int) -> None:
    stub = embed_pb2_grpc.EmbedServiceStub(channel)
    for _ in range(calls):
        await stub.Embed(embed_pb2.EmbedRequest(texts=["q"]), metadata=USER, timeout=10)


async def test_calls_are_spread_over_every_replica_the_address_lists(replicas):
    start, served = replicas
    port = await start(HOSTS[0])
    await start(HOSTS[1])
    async with service_channel(f"ipv4:{HOSTS[0]}:{port},{HOSTS[1]}:{port}", "svc-token") as channel:
        await channel.channel_ready()
        await _call_many(channel, 200)
    shares = {host: served[host] / 200 for host in HOSTS[:2]}
    print(f"shares of 200 calls: {shares}")
    assert all(0.35 <= share <= 0.65 for share in shares.values()), shares


class _NameServer(asyncio.DatagramProtocol):
    """A UDP name server for one name: A records of ``hosts`` (TTL 0, nothing cached), no other records."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        end = 12
        while data[end]:  # the question's name, label by label
            end += data[end] + 1
        question = data[12 : end + 5]
        qtype, labels = struct.unpack("!H", data[end + 1 : end + 3])[0], _labels(data[12 : end + 1])
        hosts = self.hosts if qtype == 1 and labels == NAME else []
        rcode = 0 if labels == NAME else 3  # NXDOMAIN for any other name
        header = data[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, len(hosts), 0, 0)
        answers = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(host) for host in hosts)
        self.transport.sendto(header + question + answers, addr)


def _labels(name: bytes) -> str:
    labels, at = [], 0
    while name[at]:
        labels.append(name[at + 1 : at + 1 + name[at]].decode())
        at += name[at] + 1
    return ".".join(labels)


@contextlib.asynccontextmanager
async def _name_server(hosts: list[str]) -> AsyncIterator[tuple[_NameServer, int]]:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(lambda: _NameServer(hosts), local_addr=("127.0.0.1", 0))
    try:
        yield server, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def test_a_replica_started_later_gets_calls_once_the_connections_reach_their_age(replicas):
    start, served = replicas
    age = {"grpc_max_connection_age_s": 1.0, "grpc_max_connection_age_grace_s": 1.0}
    port = await start(HOSTS[0], **age)
    await start(HOSTS[1], **age)
    client = _settings("", grpc_dns_refresh_s=0.2)
    async with _name_server(list(HOSTS[:2])) as (names, dns_port):
        target = f"dns://127.0.0.1:{dns_port}/{NAME}:{port}"
        async with service_channel(target, "svc-token", settings=client) as channel:
            await _call_many(channel, 20)
            assert served[HOSTS[2]] == 0
            await start(HOSTS[2], **age)
            names.hosts.append(HOSTS[2])  # the new pod turned ready: the headless Service lists it
            began = time.monotonic()
            while served[HOSTS[2]] == 0 and time.monotonic() - began < 10.0:
                await _call_many(channel, 1)
                await asyncio.sleep(0.01)
            reached_s = time.monotonic() - began
            print(f"the third replica got its first call after {reached_s:.2f} s (connection age 1 s)")
            assert served[HOSTS[2]] > 0, "the replica started later got no call within 10 s"
            before = served.copy()
            await _call_many(channel, 150)
    third = (served[HOSTS[2]] - before[HOSTS[2]]) / 150
    print(f"share of the third replica in the next 150 calls: {third:.2f}")
    assert third >= 0.2, third
