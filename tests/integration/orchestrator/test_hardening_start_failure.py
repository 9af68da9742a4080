"""The orchestrator's start-up failure report keeps secrets out of its logs (security review F16)."""

from __future__ import annotations

import pytest
from support.processes import free_port, start_service_process

pytestmark = pytest.mark.integration


def test_a_redis_password_never_reaches_the_log_when_redis_is_unreachable(tmp_path, kafka_bootstrap):
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    env = {
        "RAGPLANE_REDIS_URL": url,
        "RAGPLANE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RAGPLANE_API_KEYS": "k=t",
        "RAGPLANE_SERVICE_TOKEN": "a-service-token-of-this-test-0123456789",
    }
    server = start_service_process("ragplane_orchestrator", tmp_path, env=env)
    try:
        assert server.process.wait(timeout=120) != 0, "the orchestrator started without Redis"
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "RAGPLANE_REDIS_URL" in log and "127.0.0.1" in log, log[-2000:]  # the report still says what to fix
    assert "s3cret" not in log, log[-2000:]
