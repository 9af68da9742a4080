"""The local stack runs the gateway as it runs the gRPC services: started by ``ragplane up``'s spawn (its HTTP
listen setting, not RAGPLANE_GRPC_LISTEN), SERVING once its /readyz answers 200, and reported NOT_SERVING while an
upstream is not SERVING. Real processes: the gateway, and two gRPC health servers standing in for the orchestrator
and ingest."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from support.processes import free_port

from ragplane.cli import infra, stack
from ragplane.runtime.services import GATEWAY, start_order

pytestmark = pytest.mark.integration


@pytest.fixture
def upstreams():
    """Health servers on loopback for the orchestrator and ingest, SERVING."""
    servers, health_of = {}, {}
    for name in ("orchestrator", "ingest"):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        servicer = health.HealthServicer()
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers[name], health_of[name] = (server, f"127.0.0.1:{port}"), servicer
    yield {name: address for name, (_, address) in servers.items()}, health_of
    for server, _ in servers.values():
        server.stop(0)


def test_the_stack_starts_the_gateway_last_and_waits_for_its_readiness(upstreams, tmp_path, monkeypatch):
    addresses, health_of = upstreams
    monkeypatch.setenv("RAGPLANE_HOME", str(tmp_path))
    assert start_order()[-1] == "gateway"  # after the orchestrator and ingest it calls
    env = stack.stack_env(free_port(), free_port(), free_port())
    env |= {"RAGPLANE_ORCHESTRATOR_ADDR": addresses["orchestrator"], "RAGPLANE_INGEST_ADDR": addresses["ingest"]}
    port = free_port()
    component = stack._spawn_component("gateway", GATEWAY.module, "service", port, env, tmp_path)
    try:
        stack._wait_serving([component], timeout_s=60)
        assert stack.component_health(component) == "SERVING"
        assert stack.http_ready(f"127.0.0.1:{port}") == "SERVING"
        log = (tmp_path / "gateway.log").read_text()
        assert f"127.0.0.1:{port}" in log  # it listens where the stack told it (RAGPLANE_GATEWAY_LISTEN)
        health_of["ingest"].set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert stack.component_health(component) == "NOT_SERVING"
    finally:
        infra.stop_pid(component.pid)
    assert stack.component_health(component) == "DOWN"
