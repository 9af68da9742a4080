"""Fixtures for the autoscaler operator's tests; the helpers behind them live in ``tests/support``.

- `fake_api`, `fake_kube`: the in-memory Kubernetes API (support.kube), so the reconciler and its API code run
  without a cluster in unit tests.
- `cluster`: a real API server from RAGPLANE_TEST_KUBECONFIG (scripts/start-test-apiserver.sh starts one; any
  cluster works). Tests that need it skip, saying why, when the variable is unset.
- `broker`: the session's real Kafka-protocol broker (tests/conftest.py).
- `gauges`: Prometheus gauges served on loopback, standing in for Triton's metrics page.
- `run_operator`: the real operator under kopf's KopfRunner.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import kube
from support.cluster import Cluster, wait_for
from support.operator import Gauges, operator, operator_settings


@pytest.fixture
def fake_api() -> kube.FakeObjects:
    return kube.FakeObjects()


@pytest.fixture
def fake_kube(fake_api):
    return kube.fake_kube(fake_api)


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    path = os.environ.get("RAGPLANE_TEST_KUBECONFIG")
    if not path:
        pytest.skip(
            "RAGPLANE_TEST_KUBECONFIG is not set: no Kubernetes API server to test the operator against"
            ' (run `eval "$(scripts/start-test-apiserver.sh)"`, or point it at any cluster\'s kubeconfig)'
        )
    if not Path(path).is_file():
        pytest.fail(f"RAGPLANE_TEST_KUBECONFIG={path} does not exist")
    return path


@pytest.fixture(scope="session")
def cluster_session(kubeconfig) -> Iterator[Cluster]:
    c = Cluster(kubeconfig)
    wait_for(c.healthy, 30, what="the API server's /healthz")
    c.ensure_resources()
    yield c
    c.api.close()


@pytest.fixture
def cluster(cluster_session) -> Iterator[Cluster]:
    yield cluster_session
    cluster_session.cleanup()


@pytest.fixture(scope="session")
def broker(kafka_bootstrap: str) -> str:
    """bootstrap address of a real Kafka-protocol broker."""
    return kafka_bootstrap


@pytest.fixture
def gauges() -> Iterator[Gauges]:
    g = Gauges()
    yield g
    g.close()


@pytest.fixture
def run_operator(kubeconfig):
    """A factory: `with run_operator(gpu_pools={...}) as runner:`."""

    def start(**overrides):
        return operator(operator_settings(kubeconfig, **overrides))

    return start


_MEASURED: list[str] = []


@pytest.fixture(scope="session")
def measure() -> Callable[[str], None]:
    """Record a measured behaviour; printed in the terminal summary (prints would land in KopfRunner's capture)."""
    return _MEASURED.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _MEASURED:
        terminalreporter.section("autoscaler operator: measured")
        for line in _MEASURED:
            terminalreporter.write_line(line)
