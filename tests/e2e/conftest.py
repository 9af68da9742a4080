"""The whole local stack (``ragplane up``) on free loopback ports, once per test session, driven through the
public gRPC API and the CLI. ``ragplane down`` at the end must leave no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from ragplane.cli import infra
from ragplane.runtime.services import DEPLOYABLE_NAMES, SERVICE_NAMES

KEYS = {"tenant-a": "e2e-key-a", "tenant-b": "e2e-key-b"}


@dataclass
class Stack:
    home: Path
    env: dict[str, str]
    addresses: dict[str, str]
    pids: dict[str, int]

    def metadata(self, tenant: str = "tenant-a") -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {KEYS[tenant]}")]

    def channel(self, service: str) -> grpc.Channel:
        return grpc.insecure_channel(self.addresses[service])

    def cli(self, *args: str, tenant: str = "tenant-a", timeout: float = 900, check: bool = True):
        env = dict(self.env, RAGPLANE_API_KEY=KEYS[tenant])
        completed = subprocess.run(
            [sys.executable, "-m", "ragplane.cli.main", *args], env=env, text=True, capture_output=True, timeout=timeout
        )
        if check and completed.returncode != 0:
            raise AssertionError(
                f"ragplane {' '.join(args)} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}"
            )
        return completed


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("ragplane-home")
    env = dict(os.environ)
    env.update(
        {
            "RAGPLANE_HOME": str(home),
            "RAGPLANE_API_KEYS": ",".join(f"{key}={tenant}" for tenant, key in KEYS.items()),
            # A small answer budget keeps CPU generation quick; the model is the local default.
            "RAGPLANE_GENERATE_ANSWER_TOKENS": env.get("RAGPLANE_GENERATE_ANSWER_TOKENS", "96"),
            "RAGPLANE_EVAL_SAMPLE_RATE": "1.0",
        }
    )
    for name in ("broker", "redis", "state_redis", "modelserver", *DEPLOYABLE_NAMES):
        env[f"RAGPLANE_{name.upper()}_PORT"] = str(infra.free_port())
    for name in ("modelserver", *DEPLOYABLE_NAMES):
        env[f"RAGPLANE_{name.upper()}_METRICS_PORT"] = str(infra.free_port())
    up = subprocess.run(
        [sys.executable, "-m", "ragplane.cli.main", "up", "--json", "--timeout", "900"],
        env=env,
        text=True,
        capture_output=True,
        timeout=1200,
    )
    if up.returncode != 0:
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in (home / "logs").glob("*.log")
        )
        subprocess.run([sys.executable, "-m", "ragplane.cli.main", "down"], env=env, capture_output=True)
        raise AssertionError(f"ragplane up failed:\n{up.stdout}\n{up.stderr}\n{logs}")
    started = json.loads(up.stdout)
    addresses = {item["name"]: item["address"] for item in started}
    env["RAGPLANE_ADDR"] = addresses["orchestrator"]
    for name in SERVICE_NAMES:
        env[f"RAGPLANE_{name.upper()}_ADDR"] = addresses[name]
    stack = Stack(home, env, addresses, {item["name"]: item["pid"] for item in started})
    yield stack
    state_file = home / "run" / "stack.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else []
    down = subprocess.run(
        [sys.executable, "-m", "ragplane.cli.main", "down", "--json"],
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )
    assert down.returncode == 0, down.stderr
    pids = {item["pid"] for item in state} | set(stack.pids.values())
    still_running = [pid for pid in pids if infra.pid_alive(pid)]
    assert not still_running, f"processes left behind by 'ragplane down': {still_running}"


def _documents_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("e2e_documents", Path(__file__).with_name("documents.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def documents():
    return _documents_module()


@pytest.fixture(scope="session")
def corpus(stack, tmp_path_factory, documents):
    """The mixed-format corpus ingested for tenant-a through the CLI (waiting for indexing)."""
    folder = tmp_path_factory.mktemp("corpus")
    paths = documents.write_corpus(folder)
    result = stack.cli("ingest", str(folder), "--wait", "--timeout", "600", "--json")
    report = json.loads(result.stdout)
    return folder, paths, report
