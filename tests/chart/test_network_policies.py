"""NetworkPolicies allow exactly the call paths of the architecture and deny the rest."""

from __future__ import annotations

import pytest
from chart.chartlib import CALLERS, CLIENT_FACING, METRICS_PORTS, PORTS, RELEASE, SCENARIOS, SERVICES, call_port

pytestmark = pytest.mark.chart


def policy(rendered, name):
    return rendered.get("NetworkPolicy", f"{RELEASE}-ragplane-{name}")["spec"]


def pod_names(peers) -> set[str]:
    return {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for p in peers
        if "podSelector" in p and "namespaceSelector" not in p
    }


def rules_on_port(rules, port, key):
    return [r for r in rules if {"port": port, "protocol": "TCP"} in r["ports"]]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_policy_denies_by_default_in_both_directions(rendered_scenarios, scenario):
    for obj in rendered_scenarios[scenario].of_kind("NetworkPolicy"):
        assert obj["spec"]["policyTypes"] == ["Ingress", "Egress"], obj["metadata"]["name"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_the_real_callers_reach_a_services_grpc_port(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for name in SERVICES:
        # Under mutual TLS the callers of a client-facing service use its internal port (chartlib.call_port).
        calls = call_port(rendered, name)
        rules = rules_on_port(policy(rendered, name)["ingress"], calls, "from")
        internal = set().union(*(pod_names(r.get("from", [])) for r in rules))
        # besides the callers, only the `helm test` health-check Pods (tests.enabled, tests/chart/test_helm_tests.py)
        # and the gateway, a client of the orchestrator and ingest (on their client port: test below)
        assert internal - {"helm-test", "gateway"} == CALLERS[name], name
        client_rules = rules_on_port(policy(rendered, name)["ingress"], PORTS[name], "from")
        open_rules = [r for r in client_rules if not pod_names(r.get("from", []))]
        assert bool(open_rules) == (name in CLIENT_FACING), name
        other_ports = [
            p
            for r in policy(rendered, name)["ingress"]
            for p in r["ports"]
            if p["port"] not in (PORTS[name], calls, METRICS_PORTS[name])
        ]
        assert not other_ports, name


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_egress_reaches_only_the_callees(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for name in SERVICES:
        egress = policy(rendered, name)["egress"]
        callees = set().union(*(pod_names(r.get("to", [])) for r in egress)) - {"modelserver", "triton"}
        assert callees == {c for c, callers in CALLERS.items() if name in callers}, name


def test_guardrail_talks_to_nothing_but_dns_and_the_collector(rendered_scenarios):
    egress = policy(rendered_scenarios["external-kafka-sasl"], "guardrail")["egress"]
    ports = sorted(p["port"] for r in egress for p in r["ports"])
    assert ports == [53, 53, 4317]
    # with no collector named (gpu-tp2), tracing is off and so is its egress
    egress = policy(rendered_scenarios["gpu-tp2"], "guardrail")["egress"]
    assert sorted(p["port"] for r in egress for p in r["ports"]) == [53, 53]


def test_prometheus_may_scrape_every_metrics_port(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp2"]
    for name in [*SERVICES, "triton"]:
        assert rules_on_port(policy(rendered, name)["ingress"], METRICS_PORTS[name], "from"), name


def test_the_llm_server_admits_only_generate(rendered_scenarios):
    for scenario, server in (("cpu-dev", "modelserver"), ("gpu-tp2", "triton"), ("kserve-llm", "triton")):
        ingress = policy(rendered_scenarios[scenario], server)["ingress"]
        rules = rules_on_port(ingress, PORTS[server], "from")
        assert set().union(*(pod_names(r["from"]) for r in rules)) == {"generate"}, scenario
        egress = policy(rendered_scenarios[scenario], "generate")["egress"]
        llm_rules = rules_on_port(egress, PORTS[server], "to")
        assert pod_names(llm_rules[0]["to"]) == {server}


def test_external_systems_are_reached_on_their_configured_peers_and_ports(rendered_scenarios):
    rendered = rendered_scenarios["external-kafka-sasl"]
    egress = policy(rendered, "orchestrator")["egress"]
    kafka = rules_on_port(egress, 9096, "to")
    assert kafka and kafka[0]["to"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    redis = rules_on_port(egress, 6380, "to")
    assert redis and redis[0]["to"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    assert not rules_on_port(egress, 6333, "to"), "orchestrator must not reach Qdrant"
    qdrant = rules_on_port(policy(rendered, "retrieve")["egress"], 6333, "to")
    assert qdrant[0]["to"] == [{"ipBlock": {"cidr": "198.51.100.0/24"}}]
    llm = rules_on_port(policy(rendered, "generate")["egress"], 8001, "to")
    assert llm and "to" not in llm[0], "an external LLM is reached on its port"


def test_clients_and_prometheus_can_be_narrowed_to_namespaces(rendered_scenarios):
    ingress = policy(rendered_scenarios["external-kafka-sasl"], "orchestrator")["ingress"]
    clients = [r for r in rules_on_port(ingress, 50051, "from") if not pod_names(r.get("from", []))]
    assert clients[0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    scrape = rules_on_port(ingress, 9151, "from")
    assert scrape[0]["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"


def test_every_workload_may_resolve_names(rendered_scenarios):
    for obj in rendered_scenarios["cpu-dev"].of_kind("NetworkPolicy"):
        ports = [p for r in obj["spec"]["egress"] for p in r["ports"]]
        assert {"port": 53, "protocol": "UDP"} in ports, obj["metadata"]["name"]


def test_no_collector_egress_when_tracing_is_off(rendered_scenarios):
    egress = policy(rendered_scenarios["cpu-dev"], "guardrail")["egress"]
    assert sorted(p["port"] for r in egress for p in r["ports"]) == [53, 53]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_gateway_reaches_the_orchestrator_and_ingest_on_their_client_port_only(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for name in SERVICES:
        ingress = policy(rendered, name)["ingress"]
        ports = {p["port"] for r in ingress if "gateway" in pod_names(r.get("from", [])) for p in r["ports"]}
        assert ports == ({PORTS[name]} if name in ("orchestrator", "ingest") else set()), (name, ports)
    gateway = policy(rendered, "gateway")
    egress = {
        name: sorted(p["port"] for p in r["ports"]) for r in gateway["egress"] for name in pod_names(r.get("to", []))
    }
    # the client ports, never the internal (mutual TLS) ones
    assert egress == {"orchestrator": [PORTS["orchestrator"]], "ingest": [PORTS["ingest"]]}
    clients = rules_on_port(gateway["ingress"], PORTS["gateway"], "from")
    assert [r for r in clients if not pod_names(r.get("from", []))], "clients may call the gateway"
    assert rules_on_port(gateway["ingress"], METRICS_PORTS["gateway"], "from")
    other = {p["port"] for r in gateway["ingress"] for p in r["ports"]} - {PORTS["gateway"], METRICS_PORTS["gateway"]}
    assert not other, other


def test_without_the_gateway_no_policy_admits_it(render):
    rendered = render("cpu-dev", "gateway.enabled=false")
    assert "gateway" not in rendered.names()
    for name in SERVICES:
        assert "gateway" not in {n for r in policy(rendered, name)["ingress"] for n in pod_names(r.get("from", []))}
