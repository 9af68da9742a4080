"""The local stack runs two Redis servers: caches (LRU at a memory limit) and state (append-only, no eviction),
and ``ragplane status`` / ``ragplane down`` know both."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from ragplane.cli import infra, stack

pytestmark = pytest.mark.integration


def config_of(port: int, *names: str) -> dict[str, str]:
    client = redis.Redis(port=port, decode_responses=True)
    try:
        return {name: client.config_get(name)[name] for name in names}
    finally:
        client.close()


def test_the_local_stack_keeps_state_in_a_durable_never_evicting_redis(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RAGPLANE_HOME", str(tmp_path))
    (tmp_path / "logs").mkdir()
    ports = infra.free_port(), infra.free_port()
    servers = list(stack._start_redis_servers(*ports, tmp_path / "logs", lambda _: None))
    try:
        stack._save_state([stack.Component(s.name, s.process.pid, s.port, "infra") for s in servers])
        caches, state = (config_of(port, "maxmemory-policy", "appendonly", "maxmemory") for port in ports)
        rows = {component.name: status for component, status in stack.status()}
        env = stack.stack_env(9092, *ports)
    finally:
        stopped = stack.down()
    assert caches["maxmemory-policy"] == "allkeys-lru" and int(caches["maxmemory"]) > 0
    assert state == {"maxmemory-policy": "noeviction", "appendonly": "yes", "maxmemory": "0"}
    assert (tmp_path / "data" / "state-redis").is_dir(), "the state Redis keeps no append-only file"
    assert rows == {"redis": "UP", "state-redis": "UP"}
    assert env["RAGPLANE_REDIS_URL"] == f"redis://127.0.0.1:{ports[0]}/0"
    assert env["RAGPLANE_STATE_REDIS_URL"] == f"redis://127.0.0.1:{ports[1]}/0"
    assert sorted((name, running) for name, _, running in stopped) == [("redis", True), ("state-redis", True)]
    assert not any(infra.pid_alive(s.process.pid) for s in servers)
