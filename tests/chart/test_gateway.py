"""The gateway in the chart: an HTTP workload that calls the orchestrator and ingest as a client, exposed like
the client-facing gRPC services (Service type, Ingress, a Gateway API HTTPRoute in place of the GRPCRoute)."""

from __future__ import annotations

import pytest
from chart import chartlib
from chart.chartlib import NAMESPACE, PORTS, RELEASE, SCENARIOS, pod_spec

from ragplane.runtime.services import GATEWAY

pytestmark = pytest.mark.chart

NAME = f"{RELEASE}-ragplane-gateway"


def _config(rendered) -> dict[str, str]:
    return rendered.get("ConfigMap", NAME)["data"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_gateway_listens_on_http_and_calls_the_client_ports_through_the_headless_services(
    rendered_scenarios, scenario
):
    rendered = rendered_scenarios[scenario]
    config = _config(rendered)
    assert config["RAGPLANE_GATEWAY_LISTEN"] == f"0.0.0.0:{GATEWAY.port}" and "RAGPLANE_GRPC_LISTEN" not in config
    assert config["RAGPLANE_METRICS_LISTEN"] == f"0.0.0.0:{GATEWAY.metrics_port}"
    for upstream in ("orchestrator", "ingest"):
        # never the internal (mutual TLS) port: the gateway forwards its callers' API keys, as a client does
        headless = f"{RELEASE}-ragplane-{upstream}-headless"
        expected = f"dns:///{headless}.{NAMESPACE}.svc:{PORTS[upstream]}"
        assert config[f"RAGPLANE_{upstream.upper()}_ADDR"] == expected
        rendered.get("Service", headless)
    container = pod_spec(rendered.workload("gateway"))["containers"][0]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": GATEWAY.port,
        "metrics": GATEWAY.metrics_port,
    }
    scheme = "HTTPS" if "RAGPLANE_TLS_CERT_FILE" in config else "HTTP"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http", "scheme": scheme}
    healthz = {"path": "/healthz", "port": "http", "scheme": scheme}
    assert container["livenessProbe"]["httpGet"] == container["startupProbe"]["httpGet"] == healthz
    assert container["securityContext"]["readOnlyRootFilesystem"]
    # no credentials of its own: neither the service token nor the client keys
    assert not {e["name"] for e in container["env"]} & {"RAGPLANE_SERVICE_TOKEN", "RAGPLANE_API_KEYS"}
    assert "RAGPLANE_SERVICE_TOKEN" not in config and "RAGPLANE_API_KEYS" not in config
    service = rendered.get("Service", NAME)
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "http": GATEWAY.port,
        "metrics": GATEWAY.metrics_port,
    }


@pytest.mark.parametrize("sets", [(), ("global.tls.mutual=false", "global.tls.secrets.gateway=edge-tls")])
def test_under_tls_the_gateway_serves_https_and_verifies_the_services(rendered_scenarios, render, sets):
    rendered = render("tls-mtls", *sets)
    config = _config(rendered)
    assert {k: config[k] for k in ("RAGPLANE_TLS_CERT_FILE", "RAGPLANE_TLS_KEY_FILE", "RAGPLANE_TLS_CA_FILE")} == {
        "RAGPLANE_TLS_CERT_FILE": "/etc/ragplane/tls/tls.crt",
        "RAGPLANE_TLS_KEY_FILE": "/etc/ragplane/tls/tls.key",
        "RAGPLANE_TLS_CA_FILE": "/etc/ragplane/tls/ca.crt",
    }
    spec = pod_spec(rendered.workload("gateway"))
    [volume] = [v for v in spec["volumes"] if v["name"] == "tls"]
    assert {item["key"] for item in volume["secret"]["items"]} == {"tls.crt", "tls.key", "ca.crt"}
    if sets:  # its own Secret, as global.tls.secrets names one per workload
        assert volume["secret"]["secretName"] == "edge-tls"
    [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "tls"]
    assert mount == {"name": "tls", "mountPath": "/etc/ragplane/tls", "readOnly": True}
    plain = rendered_scenarios["cpu-dev"]
    assert "tls" not in {v["name"] for v in pod_spec(plain.workload("gateway"))["volumes"]}
    assert not [k for k in _config(plain) if k.startswith("RAGPLANE_TLS_")]


def test_exposed_like_the_client_facing_services(render):
    rendered = render(
        "cpu-dev",
        "gateway.service.type=LoadBalancer",
        "gateway.ingress.enabled=true",
        "gateway.ingress.host=rag.example.com",
        "gateway.httpRoute.enabled=true",
        "gateway.httpRoute.parentRefs[0].name=edge",
        "gateway.httpRoute.hostnames[0]=rag.example.com",
    )
    service = rendered.get("Service", NAME)
    assert service["spec"]["type"] == "LoadBalancer"
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]  # metrics never behind the load balancer
    assert [p["port"] for p in rendered.get("Service", f"{NAME}-metrics")["spec"]["ports"]] == [GATEWAY.metrics_port]
    backend = rendered.get("Ingress", NAME)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": NAME, "port": {"name": "http"}}
    route = rendered.get("HTTPRoute", NAME)["spec"]
    assert route["parentRefs"] == [{"name": "edge"}] and route["hostnames"] == ["rag.example.com"]
    assert route["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": NAME, "port": GATEWAY.port}],
        }
    ]
    assert not rendered.of_kind("GRPCRoute")


def test_an_http_route_without_a_gateway_to_attach_to_is_refused(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], ["gateway.httpRoute.enabled=true"], check=False)
    assert done.returncode != 0
    assert "gateway.httpRoute.parentRefs must name at least one Gateway" in done.stderr


def test_disabled_the_gateway_renders_nothing(render):
    rendered = render("cpu-dev", "gateway.enabled=false")
    assert not [o for o in rendered.objects if o["metadata"]["name"].startswith(NAME)]


def test_the_gateway_alone_keeps_the_orchestrators_headless_service(render):
    # eval is the orchestrator's only internal caller; without it the gateway still balances per call
    rendered = render("cpu-dev", "eval.enabled=false")
    rendered.get("Service", f"{RELEASE}-ragplane-orchestrator-headless")
    without = render("cpu-dev", "eval.enabled=false", "gateway.enabled=false")
    assert not [o for o in without.of_kind("Service") if o["metadata"]["name"].endswith("orchestrator-headless")]
