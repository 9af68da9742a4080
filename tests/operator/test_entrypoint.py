"""`python -m ragplane_autoscaler` as the chart runs it: settings from the environment, kopf's health endpoint for
the probes, its own metrics, a clean exit on SIGTERM, and a refusal to start on a malformed setting."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from support.cluster import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except OSError:
        return 0, ""


@pytest.mark.unit
def test_a_malformed_setting_stops_the_operator_at_start_naming_the_variable(monkeypatch, capsys):
    from ragplane_autoscaler.__main__ import main

    monkeypatch.setenv("RAGPLANE_AUTOSCALER_GPU_POOLS", "h100:8")
    assert main() == 2
    assert "RAGPLANE_AUTOSCALER_GPU_POOLS" in capsys.readouterr().err


@pytest.mark.operator
def test_the_entry_point_serves_health_and_metrics_and_stops_on_sigterm(cluster_session, kubeconfig):
    health, metrics = _free_port(), _free_port()
    env = {
        **os.environ,
        "RAGPLANE_AUTOSCALER_KUBECONFIG": kubeconfig,
        "RAGPLANE_AUTOSCALER_NAMESPACES": cluster_session.ns,
        "RAGPLANE_AUTOSCALER_GPU_POOLS": "pool-a=8",
        "RAGPLANE_AUTOSCALER_METRICS_PORT": str(metrics),
        "RAGPLANE_AUTOSCALER_LIVENESS_ENDPOINT": f"http://127.0.0.1:{health}/healthz",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragplane_autoscaler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: _get(f"http://127.0.0.1:{health}/healthz")[0] == 200, 30, what="kopf's /healthz")
        status, page = _get(f"http://127.0.0.1:{metrics}/metrics")
        assert status == 200 and "ragplane_autoscaler_reconcile_seconds" in page
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any("events off" in rec.get("message", "") for rec in lines), out  # JSON logs, and no Events API here
