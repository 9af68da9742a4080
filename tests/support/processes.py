"""gRPC servers as separate processes: a service's ``python -m`` entry point or a stand-in script.

Some servers cannot share the test's process (kserve and tritonclient register clashing protobuf symbols) and
some tests need a real process (SIGTERM handling). ``start_process`` starts one on a free loopback port with its
output in a log file; ``ServerProcess`` waits for it (gRPC health, or a listening port for servers without the
health service), reads its metrics page and stops it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

START_TIMEOUT_S = 180.0


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port_address() -> str:
    """An address nothing listens on (a peer that is down)."""
    return f"127.0.0.1:{free_port()}"


@dataclass
class ServerProcess:
    """A server process on ``address``, its output in ``log_path``."""

    address: str
    process: subprocess.Popen
    log_path: Path
    metrics_url: str = ""

    def health(self) -> str:
        """The overall gRPC health status name, or DOWN when the server does not answer."""
        try:
            with grpc.insecure_channel(self.address) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError:
            return "DOWN"

    def listening(self) -> bool:
        host, port = self.address.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=0.5).close()
            return True
        except OSError:
            return False

    def wait_for(self, status: str = "SERVING", timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until the health status is ``status`` (LISTENING: the port accepts connections)."""
        check = self.listening if status == "LISTENING" else lambda: self.health() == status
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.log_path.stem} exited ({self.process.returncode}):\n{self.log_tail()}")
            if check():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.log_path.stem} not {status} after {timeout_s}s:\n{self.log_tail()}")

    def metric(self, name: str, labels: str = "") -> float:
        """Current value of a Prometheus sample on the process's metrics page, 0 when absent."""
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", re.MULTILINE)
        match = pattern.search(text)
        return float(match.group(1)) if match else 0.0

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM, then SIGKILL when it has not exited within ``timeout_s``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_process(
    argv: Sequence[str],
    log_path: Path,
    *,
    port: int | None = None,
    env: dict[str, str] | None = None,
    metrics_port: int | None = None,
) -> ServerProcess:
    """Start ``argv`` (which binds 127.0.0.1:``port``) with the test's environment plus ``env``; do not wait.

    Args:
        argv: the command; it is told the port by ``env`` or its arguments, whichever it reads.
        log_path: where its stdout and stderr go.
        port: the port it binds (a free one when omitted; read it back from the result's address).
        env: extra environment variables.
        metrics_port: the port of its Prometheus page, if any.
    """
    port = port or free_port()
    # Like the local stack, a test's service process accepts the development keys unless ``env`` says otherwise.
    child_env = {"RAGPLANE_ALLOW_DEV_KEY": "true", **os.environ, **(env or {})}
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(argv), env=child_env, stdout=log, stderr=subprocess.STDOUT)
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else ""
    return ServerProcess(f"127.0.0.1:{port}", process, log_path, metrics_url)


def start_service_process(module: str, log_dir: Path, env: dict[str, str] | None = None) -> ServerProcess:
    """Start ``python -m <module>`` (a ragplane service) on free gRPC and metrics ports; do not wait."""
    port, metrics_port = free_port(), free_port()
    listen = {"RAGPLANE_GRPC_LISTEN": f"127.0.0.1:{port}", "RAGPLANE_METRICS_LISTEN": f"127.0.0.1:{metrics_port}"}
    log_path = log_dir / f"{module.rsplit('.', 1)[-1]}-{port}.log"
    return start_process(
        [sys.executable, "-m", module], log_path, port=port, env={**listen, **(env or {})}, metrics_port=metrics_port
    )
