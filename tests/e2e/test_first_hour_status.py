"""``ragplane status`` and ``ragplane up`` as a new user meets them: status fails and names what is missing when
the local stack is not (fully) up, so ``make demo``'s ``status || up`` starts it; up on a partly running stack
says what to do instead of starting a second stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragplane.cli import infra, stack
from ragplane.runtime.services import SERVICE_NAMES

pytestmark = pytest.mark.e2e


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RAGPLANE_HOME=str(home), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "ragplane.cli.main", *args], env=env, text=True, capture_output=True, timeout=120
    )


def test_status_fails_and_names_every_part_when_nothing_runs(tmp_path: Path):
    result = _cli(tmp_path, "status")
    said = result.stdout + result.stderr
    assert result.returncode != 0, said
    assert "not running" in said and "ragplane up" in said, said
    for name in ("broker", "redis", "state-redis", *SERVICE_NAMES):
        assert name in said, (name, said)
    as_json = _cli(tmp_path, "status", "--json")
    assert as_json.returncode != 0
    states = {item["name"]: item["state"] for item in json.loads(as_json.stdout)}
    assert set(SERVICE_NAMES) <= states.keys() and set(states.values()) == {"MISSING"}, states


def test_status_and_up_on_a_partly_running_stack_name_the_missing_parts(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RAGPLANE_HOME", str(tmp_path))
    (tmp_path / "logs").mkdir()
    servers = list(stack._start_redis_servers(infra.free_port(), infra.free_port(), tmp_path / "logs", print))
    try:
        stack._save_state([stack.Component(s.name, s.process.pid, s.port, "infra") for s in servers])
        status = _cli(tmp_path, "status")
        up = _cli(tmp_path, "up", "--timeout", "30")
    finally:
        stack.down()
    said = status.stdout + status.stderr
    assert status.returncode != 0, said
    assert "broker" in said and "orchestrator" in said and "MISSING" in said, said
    # The broker is gone with its topics: up says how to recover and starts nothing next to the survivors.
    told = up.stdout + up.stderr
    assert up.returncode != 0, told
    assert "broker" in told and "ragplane down" in told, told
    assert [c.name for c in stack.load_state_at(tmp_path)] == [] or not any(
        c.name == "orchestrator" for c in stack.load_state_at(tmp_path)
    )
