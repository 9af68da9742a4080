"""The one table of services and ports agrees with the README, the service folders and the config defaults."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

from ragplane.runtime import services
from ragplane.runtime.services import MODEL_SERVER, SERVICE_NAMES, SERVICES, callers, local_address, start_order

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_readme_port_table_is_the_service_table():
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\w+) \| (\d+) \| (.+?) \|$", text, re.M)
    expected = [(s.name, str(s.port), s.owns) for s in (*SERVICES, MODEL_SERVER)]
    assert rows[: len(expected)] == expected


@pytest.mark.parametrize("spec", SERVICES, ids=SERVICE_NAMES)
def test_every_service_has_its_folder_module_and_image(spec):
    folder = ROOT / "services" / spec.name
    assert (folder / "README.md").is_file()
    assert importlib.util.find_spec(spec.module) is not None
    # its stage of the one Dockerfile
    stage = re.search(rf"^FROM \S+ AS {spec.name}\n(.*?)(?=^FROM )", (ROOT / "Dockerfile").read_text(), re.M | re.S)
    assert stage and f"EXPOSE {spec.port} {spec.metrics_port}" in stage.group(1)


def test_ports_and_metrics_ports_are_unique():
    ports = [s.port for s in (*SERVICES, MODEL_SERVER)]
    metrics = [s.metrics_port for s in (*SERVICES, MODEL_SERVER)]
    assert len(set(ports)) == len(ports) and len(set(metrics)) == len(metrics)
    assert services.spec("orchestrator").metrics_port == 9151


def test_start_order_starts_callees_first():
    order = start_order()
    assert sorted(order) == sorted(SERVICE_NAMES)
    for name in order:
        for peer in services.spec(name).calls:
            if peer in SERVICE_NAMES:
                assert order.index(peer) < order.index(name), (peer, name)


def test_callers_invert_calls_and_unknown_names_are_named():
    assert callers("guardrail") == {"orchestrator", "ingest"}
    assert callers("eval") == frozenset()
    with pytest.raises(KeyError, match="unknown service 'nope'"):
        services.spec("nope")


def test_peer_defaults_point_at_the_table():
    from ragplane_eval.config import Settings as EvalSettings
    from ragplane_orchestrator.config import Settings as OrchestratorSettings

    orchestrator = OrchestratorSettings()
    assert orchestrator.rerank_addr == local_address("rerank") == "127.0.0.1:50055"
    assert EvalSettings().orchestrator_addr == local_address("orchestrator")
