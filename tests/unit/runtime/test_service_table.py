"""The one table of services and ports agrees with the README, the service folders and the config defaults."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

from ragplane.runtime import services
from ragplane.runtime.services import (
    DEPLOYABLE_NAMES,
    DEPLOYABLES,
    GATEWAY,
    MODEL_SERVER,
    SERVICES,
    callers,
    local_address,
    start_order,
)

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_readme_port_table_is_the_service_table():
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\w+) \| (\d+) \| (.+?) \|$", text, re.M)
    expected = [(s.name, str(s.port), s.owns) for s in (*DEPLOYABLES, MODEL_SERVER)]
    assert rows[: len(expected)] == expected


@pytest.mark.parametrize("spec", DEPLOYABLES, ids=DEPLOYABLE_NAMES)
def test_every_service_has_its_folder_module_and_image(spec):
    folder = ROOT / "services" / spec.name
    assert (folder / "README.md").is_file()
    assert importlib.util.find_spec(spec.module) is not None
    # its stage of the one Dockerfile
    stage = re.search(rf"^FROM \S+ AS {spec.name}\n(.*?)(?=^FROM )", (ROOT / "Dockerfile").read_text(), re.M | re.S)
    assert stage and f"EXPOSE {spec.port} {spec.metrics_port}" in stage.group(1)


def test_ports_and_metrics_ports_are_unique():
    ports = [s.port for s in (*DEPLOYABLES, MODEL_SERVER)]
    metrics = [s.metrics_port for s in (*DEPLOYABLES, MODEL_SERVER)]
    assert len(set(ports)) == len(ports) and len(set(metrics)) == len(metrics)
    assert services.spec("orchestrator").metrics_port == 9151


def test_start_order_starts_callees_first():
    order = start_order()
    assert sorted(order) == sorted(DEPLOYABLE_NAMES)
    for name in order:
        for peer in services.spec(name).calls:
            if peer in DEPLOYABLE_NAMES:
                assert order.index(peer) < order.index(name), (peer, name)
    assert order[-1] == "gateway"


def test_callers_invert_calls_and_unknown_names_are_named():
    assert callers("guardrail") == {"orchestrator", "ingest"}
    assert callers("eval") == frozenset()
    # the gateway calls as a client (its callers' keys on the client port), not as an internal caller
    assert callers("orchestrator") == {"eval"} and "gateway" not in callers("ingest")
    with pytest.raises(KeyError, match="unknown service 'nope'"):
        services.spec("nope")


def test_peer_defaults_point_at_the_table():
    from ragplane_eval.config import Settings as EvalSettings
    from ragplane_orchestrator.config import Settings as OrchestratorSettings

    orchestrator = OrchestratorSettings()
    assert orchestrator.rerank_addr == local_address("rerank") == "127.0.0.1:50055"
    assert EvalSettings().orchestrator_addr == local_address("orchestrator")


def test_the_gateway_serves_http_and_its_settings_agree_with_the_table():
    from ragplane_gateway.config import Settings as GatewaySettings

    assert (GATEWAY.protocol, GATEWAY.listen_env, GATEWAY.metrics_port) == ("http", "RAGPLANE_GATEWAY_LISTEN", 9180)
    assert all(s.protocol == "grpc" and s.listen_env == "RAGPLANE_GRPC_LISTEN" for s in SERVICES)
    settings = GatewaySettings()
    assert settings.listen == GATEWAY.local_address and settings.metrics_address == f"127.0.0.1:{GATEWAY.metrics_port}"
    assert settings.orchestrator_addr == local_address("orchestrator")
    assert settings.ingest_addr == local_address("ingest")
