"""Fixtures: the CPU model server as a separate process (SmolLM2 for speed) on free loopback ports.

The model server imports kserve; this test process imports tritonclient. The two cannot share a process
(duplicate protobuf symbols), which is also how they run in production.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ModelServerProcess:
    address: str
    metrics_url: str
    process: subprocess.Popen
    log_path: Path

    def health(self) -> str:
        try:
            with grpc.insecure_channel(self.address) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError:
            return "DOWN"

    def metric(self, name: str, labels: str = "") -> float:
        """Current value of a Prometheus sample, 0 when absent."""
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", re.MULTILINE)
        match = pattern.search(text)
        return float(match.group(1)) if match else 0.0

    def wait_for(self, status: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"model server exited ({self.process.returncode}):\n"
                                   f"{self.log_path.read_text()[-3000:]}")
            if self.health() == status:
                return
            time.sleep(0.2)
        raise TimeoutError(f"model server not {status} after {timeout_s}s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_model_server(tmp: Path, **env: str) -> ModelServerProcess:
    port, metrics_port = free_port(), free_port()
    child_env = dict(os.environ)
    child_env.update({
        "RAGPLANE_LLM_MODEL": "smollm2-135m",
        "RAGPLANE_GRPC_LISTEN": f"127.0.0.1:{port}",
        "RAGPLANE_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
        "RAGPLANE_MODEL_CACHE": str(tmp / "models"),
        "RAGPLANE_LLM_CONTEXT_TOKENS": "2048",
        "RAGPLANE_GRACE_PERIOD_S": "1",
    })
    child_env.update(env)
    log_path = tmp / f"modelserver-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "ragplane_generate.modelserver"], env=child_env,
                                   stdout=log, stderr=subprocess.STDOUT)
    return ModelServerProcess(f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", process, log_path)


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServerProcess]:
    """A SERVING model server with SmolLM2-135M under the model name ``ensemble``."""
    server = start_model_server(tmp_path_factory.mktemp("modelserver"))
    try:
        server.wait_for("SERVING")
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Starts model servers with extra environment (``start_server(RAGPLANE_LLM_LOAD="explicit")``); stops them."""
    started: list[ModelServerProcess] = []

    def start(**env: str) -> ModelServerProcess:
        server = start_model_server(tmp_path, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
