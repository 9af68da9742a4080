"""Per-call balancing in the chart: every caller reaches its callees through headless Services (dns:/// names
that list every ready pod), the public ClusterIP Services stay, and the gRPC settings reach every workload."""

from __future__ import annotations

import re

import pytest
from chart import chartlib
from chart.chartlib import NAMESPACE, SCENARIOS, pod_labels, pod_spec, template

pytestmark = pytest.mark.chart

PEER = re.compile(rf"^dns:///(?P<service>[a-z0-9-]+-headless)\.{NAMESPACE}\.svc:(?P<port>\d+)$")
# Settings that hold a peer's gRPC address: the callee services, the LLM server, encoders on the v2 server.
ADDRESS_KEY = re.compile(r"^RAGPLANE_(\w+_ADDR|\w+_TRITON_URL)$")


def _peer_addresses(rendered: chartlib.Rendered) -> list[tuple[str, str, str]]:
    """(ConfigMap, setting, address) of every in-cluster peer address (an external LLM server is not ours)."""
    found = []
    for config in rendered.of_kind("ConfigMap"):
        for key, value in (config.get("data") or {}).items():
            if ADDRESS_KEY.match(key) and "." + NAMESPACE + ".svc" in value:
                found.append((config["metadata"]["name"], key, value))
    return found


def _ports_of(rendered: chartlib.Rendered, selector: dict[str, str]) -> set[int]:
    """Container ports of the pods that ``selector`` picks (any Deployment or InferenceService)."""
    ports = set()
    for obj in rendered.objects:
        if obj["kind"] in ("Deployment", "InferenceService") and selector.items() <= pod_labels(obj).items():
            for container in pod_spec(obj)["containers"]:
                ports |= {port["containerPort"] for port in container.get("ports", [])}
    return ports


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_peer_address_is_a_dns_name_of_a_headless_service_of_the_callees_pods(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    addresses = _peer_addresses(rendered)
    assert addresses, "no peer address rendered"
    for config, key, address in addresses:
        match = PEER.match(address)
        assert match, f"{config} {key}={address}: not dns:///<name>-headless.{NAMESPACE}.svc:<port>"
        service = rendered.get("Service", match["service"])
        assert service["spec"]["clusterIP"] == "None", f"{match['service']} is not headless"
        assert not service["spec"].get("publishNotReadyAddresses"), "pods that are warming up would get calls"
        port = int(match["port"])
        ports = [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]]
        # the gRPC port, and under mutual TLS the internal port of a client-facing service
        assert (port, port) in ports and all(p == t for p, t in ports) and len(ports) <= 2, ports
        assert port in _ports_of(rendered, service["spec"]["selector"]), f"{address}: no pod listens on {port}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_each_headless_service_has_a_caller_and_the_clusterip_services_stay(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    headless = {s["metadata"]["name"] for s in rendered.of_kind("Service") if s["spec"].get("clusterIP") == "None"}
    called = {PEER.match(address)["service"] for _, _, address in _peer_addresses(rendered)}
    assert headless == called
    for name in rendered.names() & set(chartlib.SERVICES):
        public = rendered.get("Service", f"{chartlib.RELEASE}-ragplane-{name}")
        assert public["spec"]["type"] == "ClusterIP" and "clusterIP" not in public["spec"], name


def test_grpc_settings_reach_every_workload(render):
    rendered = render("cpu-dev", "global.grpc.maxConnectionAgeSeconds=60", "global.grpc.lbPolicy=pick_first")
    for name in rendered.names():
        data = rendered.get("ConfigMap", f"{chartlib.RELEASE}-ragplane-{name}")["data"]
        assert data["RAGPLANE_GRPC_MAX_CONNECTION_AGE_S"] == "60", name
        assert data["RAGPLANE_GRPC_LB_POLICY"] == "pick_first", name
        assert data["RAGPLANE_GRPC_MAX_CONNECTION_AGE_GRACE_S"] == "600", name


@pytest.mark.parametrize(
    "setting",
    ["global.grpc.lbPolicy=random", "global.grpc.maxConnectionAgeSeconds=0", "global.grpc.keepaliveSeconds=1"],
)
def test_out_of_range_grpc_settings_are_refused(helm, setting):
    done = template(helm, [chartlib.scenario_file("cpu-dev")], [setting], check=False)
    assert done.returncode != 0, f"{setting} was accepted"
    assert "grpc" in done.stderr, done.stderr
