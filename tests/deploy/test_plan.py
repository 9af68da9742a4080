"""The plan read from each rendered scenario, and its localisation: what a pod would run, and that the only
changes on the way to a local process are the README's substitutions.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from chart.chartlib import SCENARIOS
from deploy.plan import (
    Endpoint,
    Substitutions,
    generated_secrets,
    localize,
    plan,
    stand_in_llm,
    triton_tls,
)

from ragplane.runtime.services import SERVICE_NAMES, spec

pytestmark = [pytest.mark.deploy, pytest.mark.chart]


def _plans(rendered):
    secrets = generated_secrets(rendered)
    plans = plan(rendered, secrets)
    extra = stand_in_llm(plans, rendered)
    return secrets, plans + ([extra] if extra else [])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_service_is_planned_as_the_image_runs_it(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    secrets, plans = _plans(rendered)
    by_name = {p.name: p for p in plans}
    token = next(v for (_, key), v in secrets.items() if key == "token")
    assert len(token) >= 32
    for name in SERVICE_NAMES:
        the_plan = by_name[name]
        assert the_plan.ours and the_plan.argv == ["python", "-m", spec(name).module], name
        assert the_plan.env["RAGPLANE_SERVICE_TOKEN"] == token, name
        # The image's ENV comes first (HOME=/tmp on a read-only root), the manifest's ConfigMap overrides it.
        assert the_plan.env["HOME"] == "/tmp", name
        assert the_plan.read_only_root and the_plan.writable == ["/tmp"], name
        assert the_plan.run_as_user == 10001 and the_plan.ports["grpc"] == spec(name).port, name
        # The readiness probe asks the gRPC port, or the plaintext health-only port when the listeners serve TLS.
        assert the_plan.health_port in (spec(name).port, the_plan.ports.get("grpc-health")), name
        api_keys = the_plan.env.get("RAGPLANE_API_KEYS", "")
        if api_keys.startswith("/"):
            assert the_plan.files[api_keys].decode().endswith("=acme"), name
    # Exactly one LLM server of ours: the chart's model server or the stand-in for Triton / an external one.
    assert sum(p.name == "modelserver" for p in plans) == 1
    # The gateway: its image's entry module, its HTTP port, and readiness as an HTTP GET of /readyz on it.
    gateway = by_name["gateway"]
    assert gateway.ours and gateway.argv == ["python", "-m", "ragplane_gateway"]
    assert gateway.ports["http"] == spec("gateway").port and "grpc" not in gateway.ports
    assert (gateway.health_port, gateway.health_path) == (spec("gateway").port, "/readyz")
    assert "RAGPLANE_SERVICE_TOKEN" not in gateway.env and gateway.read_only_root


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_localized_processes_keep_no_cluster_address_and_see_their_files_under_the_root(
    rendered_scenarios, scenario, tmp_path: Path
):
    rendered = rendered_scenarios[scenario]
    _, plans = _plans(rendered)
    by_name = {p.name: p for p in plans}
    endpoints = {
        p.name: Endpoint([f"127.0.0.{i + 2}"], {port: 20000 + i * 10 + j for j, port in enumerate(p.ports.values())})
        for i, p in enumerate(plans)
        if p.ours
    }
    subs = Substitutions(
        root=tmp_path,
        endpoints=endpoints,
        kafka_bootstrap="127.0.0.1:19092",
        redis_url="redis://127.0.0.1:16379/0",
        state_redis_url="redis://127.0.0.1:16380/0",
        qdrant_root=tmp_path / "qdrant",
    )
    for the_plan in plans:
        if not the_plan.ours:
            continue
        local = localize(the_plan, rendered, by_name, subs)
        for key, value in local.env.items():
            if key.startswith("OTEL_"):
                continue  # the collector's address is not substituted (README)
            assert ".svc" not in value and "example.net" not in value and "amazonaws" not in value, (key, value)
            assert "0.0.0.0" not in value, (key, value)
        if the_plan.kind == "Job":
            assert local.argv[0] == sys.executable and Path(local.argv[-1]) in local.files, local.argv
            continue
        assert (
            local.address
            == f"{endpoints[the_plan.name].hosts[0]}:{endpoints[the_plan.name].ports[the_plan.health_port]}"
        )
        assert all(path.is_relative_to(local.root) for path in local.files)
        if the_plan.name == "retrieve":
            assert local.env["RAGPLANE_QDRANT_URL"].startswith(f"file://{tmp_path}")
        keys_path = local.env.get("RAGPLANE_API_KEYS", "")
        if keys_path.startswith("/"):
            assert Path(keys_path) in local.files, the_plan.name
        if "RAGPLANE_REDIS_URL" in local.env:
            assert (
                local.env["RAGPLANE_REDIS_URL"].startswith("redis://")
                and "127.0.0.1:16379" in local.env["RAGPLANE_REDIS_URL"]
            )
        if the_plan.name == "gateway":
            # it listens on its loopback address and calls the orchestrator's and ingest's client ports there
            assert local.env["RAGPLANE_GATEWAY_LISTEN"] == local.http_address == local.address
            assert local.health_path == "/readyz"
            for upstream in ("orchestrator", "ingest"):
                port = endpoints[upstream].ports[by_name[upstream].ports["grpc"]]
                assert local.env[f"RAGPLANE_{upstream.upper()}_ADDR"].endswith(f":{port}"), local.env


TLS_FILES = {
    "RAGPLANE_TLS_CERT_FILE": "/etc/ragplane/tls/tls.crt",
    "RAGPLANE_TLS_KEY_FILE": "/etc/ragplane/tls/tls.key",
    "RAGPLANE_TLS_CA_FILE": "/etc/ragplane/tls/ca.crt",
}


def test_the_stand_in_for_a_triton_serving_tls_serves_it_with_tritons_files(rendered_scenarios):
    _, plans = _plans(rendered_scenarios["gpu-tls"])
    by_name = {p.name: p for p in plans}
    triton, stand_in = by_name["triton"], by_name["modelserver"]
    assert stand_in.kind == "stand-in"
    assert {k: stand_in.env[k] for k in TLS_FILES} == TLS_FILES
    assert stand_in.env["RAGPLANE_TLS_CLIENT_AUTH"] == "require"  # --grpc-use-ssl-mutual
    for path in TLS_FILES.values():
        assert stand_in.files[path] == triton.files[path], path
    # readiness asks a plaintext health-only port, as for the services under TLS
    assert stand_in.health_port == stand_in.ports["grpc-health"] != stand_in.ports["grpc"]
    assert stand_in.env["RAGPLANE_GRPC_HEALTH_LISTEN"] == f"0.0.0.0:{stand_in.health_port}"


def test_the_stand_in_for_a_plaintext_triton_serves_plaintext(rendered_scenarios):
    _, plans = _plans(rendered_scenarios["gpu-tp2"])
    stand_in = next(p for p in plans if p.name == "modelserver")
    assert not [k for k in stand_in.env if k.startswith("RAGPLANE_TLS_")]
    assert stand_in.health_port == stand_in.ports["grpc"] == 8001 and not stand_in.files


def test_tritons_tls_flags_in_either_form_map_onto_the_model_servers_settings():
    spaced = ["--grpc-use-ssl", "1", "--grpc-server-cert", "/c", "--grpc-server-key", "/k", "--grpc-root-cert", "/ca"]
    env = triton_tls(["tritonserver", *spaced])
    assert (env["RAGPLANE_TLS_CERT_FILE"], env["RAGPLANE_TLS_KEY_FILE"], env["RAGPLANE_TLS_CA_FILE"]) == (
        "/c",
        "/k",
        "/ca",
    )
    assert env["RAGPLANE_TLS_CLIENT_AUTH"] == "none"
    mutual = triton_tls(
        ["--grpc-use-ssl-mutual=true", "--grpc-server-cert=/c", "--grpc-server-key=/k", "--grpc-root-cert=/ca"]
    )
    assert mutual["RAGPLANE_TLS_CLIENT_AUTH"] == "require"
    assert triton_tls(["--grpc-use-ssl=false", "--log-verbose=1"]) == {}
    with pytest.raises(AssertionError, match="--grpc-server-key"):
        triton_tls(["--grpc-use-ssl=true", "--grpc-server-cert=/c", "--grpc-root-cert=/ca"])
