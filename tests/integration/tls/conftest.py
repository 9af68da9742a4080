"""TLS material generated for each test module (support.certs) and a Redis that speaks only TLS."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from support.certs import Pki, issue_pki
from support.processes import free_port

from ragplane.cli.infra import redis_binary, wait_port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return issue_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_redis_url(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``rediss://localhost:PORT/0`` of a redis-server with no plaintext port, serving the test CA's certificate
    (clients need no certificate of their own: tls-auth-clients no)."""
    port = free_port()
    log = tmp_path_factory.mktemp("tls-redis") / "redis.log"
    args = [
        redis_binary(),
        "--port",
        "0",
        "--tls-port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        str(pki.server.cert),
        "--tls-key-file",
        str(pki.server.key),
        "--tls-ca-cert-file",
        str(pki.ca),
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, 15.0, process, "redis-server (TLS)")
        yield f"rediss://localhost:{port}/0"
    finally:
        process.terminate()
        process.wait(10)
