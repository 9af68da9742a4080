"""The client-facing services can be exposed: Service type, Ingress and Gateway API GRPCRoute, each valid for its
kind (kubernetes-validate; the GRPCRoute against the Gateway API CRD's schema)."""

from __future__ import annotations

import pytest
from chart import chartlib
from chart.chartlib import RELEASE

pytestmark = pytest.mark.chart

EXPOSED = (
    "orchestrator.service.type=LoadBalancer",
    "orchestrator.service.loadBalancerSourceRanges[0]=203.0.113.0/24",
    "ingest.service.type=NodePort",
    "orchestrator.ingress.enabled=true",
    "orchestrator.ingress.host=rag.example.org",
    "orchestrator.ingress.className=nginx",
    "orchestrator.ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/backend-protocol=GRPC",
    "orchestrator.ingress.tls.secretName=rag-example-org-tls",
    "global.metrics.serviceMonitor.enabled=true",
)
ROUTES = (
    "orchestrator.grpcRoute.enabled=true",
    "orchestrator.grpcRoute.parentRefs[0].name=edge",
    "orchestrator.grpcRoute.parentRefs[0].namespace=gateway-system",
    "orchestrator.grpcRoute.hostnames[0]=rag.example.org",
    "ingest.grpcRoute.enabled=true",
    "ingest.grpcRoute.parentRefs[0].name=edge",
    "ingest.grpcRoute.parentRefs[0].namespace=gateway-system",
    "ingest.grpcRoute.hostnames[0]=rag.example.org",
)


def _name(workload: str) -> str:
    return f"{RELEASE}-ragplane-{workload}"


def test_by_default_nothing_is_exposed(rendered_scenarios):
    rendered = rendered_scenarios["cpu-dev"]
    assert {s["spec"].get("type", "ClusterIP") for s in rendered.of_kind("Service")} == {"ClusterIP"}
    assert not rendered.of_kind("Ingress") and not rendered.of_kind("GRPCRoute")


def test_an_exposed_service_publishes_only_grpc_and_metrics_stay_inside(render, tmp_path):
    rendered = render("cpu-dev", *EXPOSED)
    lb = rendered.get("Service", _name("orchestrator"))
    assert lb["spec"]["type"] == "LoadBalancer"
    assert lb["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
    assert [p["name"] for p in lb["spec"]["ports"]] == ["grpc"]
    assert rendered.get("Service", _name("ingest"))["spec"]["type"] == "NodePort"
    for workload in ("orchestrator", "ingest"):
        metrics = rendered.get("Service", f"{_name(workload)}-metrics")
        assert metrics["spec"]["type"] == "ClusterIP"
        assert [p["name"] for p in metrics["spec"]["ports"]] == ["metrics"]
        # the ServiceMonitor still finds a Service with a metrics port among those its selector matches
        monitor = rendered.get("ServiceMonitor", _name(workload))
        selector = monitor["spec"]["selector"]["matchLabels"]
        matching = [
            s
            for s in rendered.of_kind("Service")
            if selector.items() <= s["metadata"]["labels"].items()
            and "metrics" in {p["name"] for p in s["spec"]["ports"]}
        ]
        assert [s["metadata"]["name"] for s in matching] == [f"{_name(workload)}-metrics"]
    ingress = rendered.get("Ingress", _name("orchestrator"))
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["rag.example.org"], "secretName": "rag-example-org-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": _name("orchestrator"), "port": {"name": "grpc"}}
    path = tmp_path / "exposed.yaml"
    path.write_text(rendered.text)
    errors = [line for line in chartlib.kubernetes_validate([path]).splitlines() if not line.startswith("WARN")]
    assert not errors, "\n".join(errors)


def test_grpc_routes_share_a_hostname_by_grpc_service_and_match_the_gateway_api_schema(render):
    rendered = render("cpu-dev", *ROUTES)
    routes = {r["metadata"]["name"]: r for r in rendered.of_kind("GRPCRoute")}
    assert set(routes) == {_name("orchestrator"), _name("ingest")}
    for route in routes.values():
        assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert not chartlib.crd_errors(route)
    orchestrator = routes[_name("orchestrator")]["spec"]
    assert orchestrator["rules"][0]["matches"] == [{"method": {"type": "Exact", "service": "ragplane.v1.RagService"}}]
    assert orchestrator["rules"][0]["backendRefs"] == [{"name": _name("orchestrator"), "port": 50051}]
    ingest = routes[_name("ingest")]["spec"]["rules"][0]
    assert ingest["matches"][0]["method"]["service"] == "ragplane.v1.IngestService"
    assert ingest["backendRefs"][0]["port"] == 50052


def test_the_gateway_api_schema_check_can_fail(render):
    route = render("cpu-dev", *ROUTES).get("GRPCRoute", _name("ingest"))
    route["spec"]["rules"][0]["backendRefs"][0]["portt"] = 1
    assert any("portt" in e for e in chartlib.crd_errors(route))


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("orchestrator.ingress.enabled=true",), "orchestrator.ingress.host must be set"),
        (("ingest.grpcRoute.enabled=true",), "ingest.grpcRoute.parentRefs must name at least one Gateway"),
        (("retrieve.service.type=LoadBalancer",), "retrieve.service: Additional property type is not allowed"),
        (("embed.ingress.enabled=true",), "embed: Additional property ingress is not allowed"),
    ],
)
def test_incomplete_or_internal_exposure_is_refused(helm, sets, message):
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], sets, check=False)
    assert done.returncode != 0
    assert message in done.stderr
