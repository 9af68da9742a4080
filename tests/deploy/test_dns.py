"""The boot test's DNS server: gRPC's resolver, pointed at it by the target's authority, gets every address of a
headless name, round_robin spreads calls over them, and a changed answer is picked up on re-resolution.
"""

from __future__ import annotations

import json
from concurrent import futures

import grpc
import pytest
from deploy.dns import DnsServer
from deploy.harness import free_port_on
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

pytestmark = [pytest.mark.deploy, pytest.mark.integration]

HOSTS = ["127.0.0.2", "127.0.0.3"]
NAME = "rp-ragplane-embed-headless.ragplane.svc"


class CountingHealth(health.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def Check(self, request, context):  # noqa: N802 - gRPC method name
        self.calls += 1
        return super().Check(request, context)


@pytest.fixture
def servers():
    port = free_port_on(HOSTS)
    started = []
    for host in HOSTS:
        server = grpc.server(futures.ThreadPoolExecutor(2))
        servicer = CountingHealth()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        server.add_insecure_port(f"{host}:{port}")
        server.start()
        started.append((server, servicer))
    yield port, [s for _, s in started]
    for server, _ in started:
        server.stop(None)


def test_a_headless_name_resolves_to_every_replica_and_round_robin_spreads_the_calls(servers):
    port, servicers = servers
    dns = DnsServer().start()
    try:
        dns.set(NAME, HOSTS)
        config = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
        with grpc.insecure_channel(
            f"dns://{dns.address}/{NAME}:{port}", options=[("grpc.service_config", config)]
        ) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            # Until both connections are up round_robin uses the ready one; then it alternates exactly.
            for _ in range(50):
                stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                if all(s.calls for s in servicers):
                    break
            for servicer in servicers:
                servicer.calls = 0
            for _ in range(20):
                stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert [s.calls for s in servicers] == [10, 10]
        assert dns.queries >= 1
    finally:
        dns.stop()


def test_an_unknown_name_does_not_resolve():
    dns = DnsServer().start()
    try:
        with grpc.insecure_channel(f"dns://{dns.address}/nothing.ragplane.svc:1") as ch:
            with pytest.raises(grpc.RpcError) as failed:
                health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=3)
        assert failed.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    finally:
        dns.stop()
