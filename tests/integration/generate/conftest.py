"""Fixtures: the CPU model server as a separate process (SmolLM2 for speed) on free loopback ports.

The model server imports kserve; this test process imports tritonclient. The two cannot share a process
(duplicate protobuf symbols), which is also how they run in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import ServerProcess, start_service_process


def start_model_server(tmp: Path, **env: str) -> ServerProcess:
    """The model server with SmolLM2-135M and a 2048-token context; ``env`` overrides its settings."""
    defaults = {
        "RAGPLANE_LLM_MODEL": "smollm2-135m",
        "RAGPLANE_MODEL_CACHE": str(tmp / "models"),
        "RAGPLANE_LLM_CONTEXT_TOKENS": "2048",
        "RAGPLANE_GRACE_PERIOD_S": "1",
    }
    return start_service_process("ragplane_generate.modelserver", tmp, {**defaults, **env})


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
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
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = start_model_server(tmp_path, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
