"""``ragplane status`` and ``ragplane up`` as a new user meets them: status fails and names what is missing when
the local stack is not (fully) up, so ``make demo``'s ``status || up`` starts it. ``up`` on a running or partly
running stack: tests/e2e/test_first_hour_demo.py and test_first_hour_outage.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragplane.cli import infra, stack
from ragplane.runtime.services import DEPLOYABLE_NAMES

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
    for name in ("broker", "redis", "state-redis", *DEPLOYABLE_NAMES):
        assert name in said, (name, said)
    as_json = _cli(tmp_path, "status", "--json")
    assert as_json.returncode != 0
    states = {item["name"]: item["state"] for item in json.loads(as_json.stdout)}
    assert set(DEPLOYABLE_NAMES) <= states.keys() and set(states.values()) == {"MISSING"}, states


def test_status_on_a_partly_running_stack_names_the_missing_parts(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RAGPLANE_HOME", str(tmp_path))
    (tmp_path / "logs").mkdir()
    servers = list(stack._start_redis_servers(infra.free_port(), infra.free_port(), tmp_path / "logs", print))
    try:
        stack._save_state([stack.Component(s.name, s.process.pid, s.port, "infra") for s in servers])
        status = _cli(tmp_path, "status")
    finally:
        stack.down()
    said = " ".join((status.stdout + status.stderr).split())  # the console wraps long lines
    assert status.returncode != 0, said
    assert "broker MISSING" in said and "orchestrator MISSING" in said and "redis UP" not in said, said
    # The broker is gone with its topics: the hint is to start everything again, not to start the broker alone.
    assert "'ragplane up' starts the whole stack again" in said, said
