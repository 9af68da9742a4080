"""Metrics ports carry per-tenant series: by default only Prometheus in the monitoring namespace may scrape them.

And the LLM server (CPU model server or Triton, neither authenticates) is reachable on its inference ports
only from generate: NetworkPolicy is its only access control.
"""

from __future__ import annotations

import pytest
from chart.chartlib import METRICS_PORTS, PORTS, RELEASE, SERVICES, parse, scenario_file, template

pytestmark = pytest.mark.chart

MONITORING = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def ingress(rendered, name) -> list[dict]:
    return rendered.get("NetworkPolicy", f"{RELEASE}-ragplane-{name}")["spec"]["ingress"]


def admitting(rules: list[dict], port: int) -> list[dict]:
    return [r for r in rules if {"port": port, "protocol": "TCP"} in r.get("ports", [])]


@pytest.mark.parametrize("scenario", ["cpu-dev", "gpu-tp2"])
def test_by_default_only_prometheus_in_the_monitoring_namespace_reaches_a_metrics_port(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    llm = "modelserver" if scenario == "cpu-dev" else "triton"
    for name in [*SERVICES, llm]:
        rules = admitting(ingress(rendered, name), METRICS_PORTS[name])
        assert rules, f"{name}: Prometheus cannot scrape"
        for rule in rules:
            assert rule.get("from") == [MONITORING], f"{name}: metrics port open to {rule.get('from', 'any source')}"


def test_an_empty_prometheus_list_opens_the_metrics_ports_as_documented(helm, tmp_path):
    values = tmp_path / "open-metrics.yaml"
    values.write_text("global: {networkPolicy: {prometheus: {from: []}}}\n")
    rendered = parse(template(helm, [scenario_file("cpu-dev"), values]).stdout)
    rules = admitting(ingress(rendered, "retrieve"), METRICS_PORTS["retrieve"])
    assert rules and "from" not in rules[0]


@pytest.mark.parametrize(("scenario", "server"), [("cpu-dev", "modelserver"), ("gpu-tp2", "triton")])
def test_the_llm_server_admits_only_generate_on_its_ports_and_prometheus_on_metrics(
    rendered_scenarios, scenario, server
):
    for rule in ingress(rendered_scenarios[scenario], server):
        ports = {p["port"] for p in rule["ports"]}
        peers = rule.get("from")
        assert peers, f"{server}: ports {ports} open to any source"
        if ports == {METRICS_PORTS[server]}:
            assert peers == [MONITORING]
        else:
            assert ports == {PORTS[server]}, ports
            assert [p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in peers] == ["generate"]
            assert all("namespaceSelector" not in p for p in peers)
