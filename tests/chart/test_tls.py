"""global.tls renders a chart whose pods run TLS for real: the Secret mounted read-only where the settings point,
mutual TLS between the workloads, the callers of client-facing services on their internal port, probes on a
plaintext health-only port, and optional cert-manager Certificates naming what the callers dial. One internal
service is started from its rendered environment with generated certificates.
"""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import grpc
import pytest
from chart import chartlib
from chart.chartlib import CLIENT_FACING, PORTS, RELEASE, SCENARIOS, SERVICES, pod_spec
from chart.podenv import pod_environment
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.certs import issue_pki
from support.servers import ServicerApp

from ragplane.runtime.context import TENANT_HEADER
from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.runtime.tls import channel_credentials
from ragplane.v1 import embed_pb2, embed_pb2_grpc

pytestmark = pytest.mark.chart

MOUNT = "/etc/ragplane/tls"
# The scenarios with global.tls on: mutual TLS with the CPU model server, and with Triton.
TLS_SCENARIOS = ("tls-mtls", "gpu-tls")
TRITON_TLS_ARGS = [
    "--grpc-use-ssl=true",
    f"--grpc-server-cert={MOUNT}/tls.crt",
    f"--grpc-server-key={MOUNT}/tls.key",
    f"--grpc-root-cert={MOUNT}/ca.crt",
]


def _config(rendered, name: str) -> dict[str, str]:
    return rendered.get("ConfigMap", f"{RELEASE}-ragplane-{name}")["data"]


def test_every_service_mounts_its_certificate_read_only_and_serves_mutual_tls(rendered_scenarios):
    rendered = rendered_scenarios["tls-mtls"]
    for name in [*SERVICES, "modelserver"]:
        spec = pod_spec(rendered.workload(name))
        [volume] = [v for v in spec["volumes"] if v["name"] == "tls"]
        assert volume["secret"]["secretName"] == "ragplane-tls"
        assert {i["key"] for i in volume["secret"]["items"]} == {"tls.crt", "tls.key", "ca.crt"}
        [container] = spec["containers"]
        assert {"name": "tls", "mountPath": MOUNT, "readOnly": True} in container["volumeMounts"]
        config = _config(rendered, name)
        assert config["RAGPLANE_TLS_CERT_FILE"] == f"{MOUNT}/tls.crt"
        assert config["RAGPLANE_TLS_KEY_FILE"] == f"{MOUNT}/tls.key"
        assert config["RAGPLANE_TLS_CA_FILE"] == f"{MOUNT}/ca.crt"
        assert config["RAGPLANE_TLS_CLIENT_AUTH"] == "require"
        port = PORTS.get(name, 50070)
        assert config["RAGPLANE_GRPC_HEALTH_LISTEN"] == f"0.0.0.0:{port + 2000}"
        assert ("RAGPLANE_GRPC_INTERNAL_LISTEN" in config) == (name in CLIENT_FACING), name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port + 2000}
    # generate reaches the CPU model server over TLS too
    assert _config(rendered, "generate")["RAGPLANE_MODEL_SERVER_TLS"] == "true"


def test_callers_of_client_facing_services_dial_their_internal_port(rendered_scenarios):
    config = _config(rendered_scenarios["tls-mtls"], "eval")
    for callee in ("orchestrator", "ingest"):
        address = config[f"RAGPLANE_{callee.upper()}_ADDR"]
        assert address.endswith(f"-headless.{chartlib.NAMESPACE}.svc:{PORTS[callee] + 1000}"), address


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in TLS_SCENARIOS])
def test_without_global_tls_nothing_changes(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for name in SERVICES:
        if name not in rendered.names():
            continue
        assert not [k for k in _config(rendered, name) if k.startswith("RAGPLANE_TLS_") or "HEALTH_LISTEN" in k]
        assert not [v for v in pod_spec(rendered.workload(name))["volumes"] if v["name"] == "tls"]
    assert not rendered.of_kind("Certificate")


def test_cert_manager_certificates_name_what_the_callers_dial(render):
    rendered = render(
        "tls-mtls",
        "global.tls.secretName=",
        "global.tls.certManager.enabled=true",
        "global.tls.certManager.issuerRef.name=internal-ca",
    )
    certificates = {c["metadata"]["name"]: c["spec"] for c in rendered.of_kind("Certificate")}
    # the gateway serves HTTPS with its own certificate
    assert set(certificates) == {f"{RELEASE}-ragplane-{name}" for name in [*SERVICES, "modelserver", "gateway"]}
    dialled = {
        address.removeprefix("dns:///").rpartition(":")[0]
        for name in SERVICES
        for key, address in _config(rendered, name).items()
        if key.endswith("_ADDR") and address.startswith("dns:///")
    }
    names = {dns for spec in certificates.values() for dns in spec["dnsNames"]}
    assert dialled and dialled <= names
    for name, spec in certificates.items():
        assert spec["secretName"] == f"{name}-tls"
        assert {"server auth", "client auth"} <= set(spec["usages"])
        assert spec["issuerRef"] == {"name": "internal-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
        [volume] = [v for v in pod_spec(rendered.get("Deployment", name))["volumes"] if v["name"] == "tls"]
        assert volume["secret"]["secretName"] == f"{name}-tls"


def _triton(rendered) -> tuple[dict, dict]:
    spec = pod_spec(rendered.workload("triton"))
    [container] = spec["containers"]
    return spec, container


def _tls_volume(spec: dict) -> dict | None:
    return next((v for v in spec["volumes"] if v["name"] == "tls"), None)


def test_triton_serves_its_grpc_port_with_mutual_tls_from_the_mounted_certificate(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tls"]
    spec, container = _triton(rendered)
    assert container["args"] == [*TRITON_TLS_ARGS, "--grpc-use-ssl-mutual=true"]
    volume = _tls_volume(spec)
    assert volume["secret"]["secretName"] == "ragplane-tls"
    assert {i["key"]: i["path"] for i in volume["secret"]["items"]} == {k: k for k in ("tls.crt", "tls.key", "ca.crt")}
    assert {"name": "tls", "mountPath": MOUNT, "readOnly": True} in container["volumeMounts"]
    # HTTP and metrics stay plain: the probes keep asking Triton's HTTP port.
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == 8000, probe
    # Its caller verifies it with the CA and presents its own certificate (Triton requires one).
    config = _config(rendered, "generate")
    assert config["RAGPLANE_MODEL_SERVER_TLS"] == "true"
    assert config["RAGPLANE_MODEL_ADDR"].endswith(f"-triton-headless.{chartlib.NAMESPACE}.svc:8001")
    assert (config["RAGPLANE_TLS_CA_FILE"], config["RAGPLANE_TLS_CERT_FILE"], config["RAGPLANE_TLS_KEY_FILE"]) == (
        f"{MOUNT}/ca.crt",
        f"{MOUNT}/tls.crt",
        f"{MOUNT}/tls.key",
    )


def test_triton_without_mutual_tls_serves_tls_and_asks_no_client_certificate(render):
    rendered = render("gpu-tls", "global.tls.mutual=false", "triton.extraArgs[0]=--log-verbose=1")
    _, container = _triton(rendered)
    # the TLS flags first, the user's arguments after them
    assert container["args"] == [*TRITON_TLS_ARGS, "--log-verbose=1"]
    assert _config(rendered, "generate")["RAGPLANE_MODEL_SERVER_TLS"] == "true"


@pytest.mark.parametrize("workload", ["embed", "rerank"])
def test_remote_encoders_on_triton_reach_it_over_tls(render, workload):
    rendered = render("gpu-tls", f"{workload}.remoteModels=true")
    config = _config(rendered, workload)
    prefix = f"RAGPLANE_{workload.upper()}"
    assert config[f"{prefix}_BACKEND"] == "triton"
    assert config[f"{prefix}_TRITON_URL"].endswith("-triton-headless.ragplane.svc:8001")
    assert config["RAGPLANE_MODEL_SERVER_TLS"] == "true"
    assert config["RAGPLANE_TLS_CA_FILE"] == f"{MOUNT}/ca.crt"
    other = "rerank" if workload == "embed" else "embed"
    assert "RAGPLANE_MODEL_SERVER_TLS" not in _config(rendered, other)


def test_triton_tls_disabled_keeps_its_hop_plaintext_and_the_services_on_tls(render):
    rendered = render(
        "gpu-tls",
        "triton.tls.enabled=false",
        "global.tls.secretName=",
        "global.tls.certManager.enabled=true",
        "global.tls.certManager.issuerRef.name=internal-ca",
    )
    spec, container = _triton(rendered)
    assert "args" not in container
    assert _tls_volume(spec) is None
    assert not [m for m in container["volumeMounts"] if m["name"] == "tls"]
    config = _config(rendered, "generate")
    assert "RAGPLANE_MODEL_SERVER_TLS" not in config
    assert config["RAGPLANE_TLS_CERT_FILE"] == f"{MOUNT}/tls.crt"  # generate's own listener keeps TLS
    names = {c["metadata"]["name"] for c in rendered.of_kind("Certificate")}
    assert f"{RELEASE}-ragplane-generate" in names
    assert f"{RELEASE}-ragplane-triton" not in names


def test_triton_gets_a_cert_manager_certificate_naming_what_its_callers_dial(render):
    rendered = render(
        "gpu-tls",
        "global.tls.secretName=",
        "global.tls.certManager.enabled=true",
        "global.tls.certManager.issuerRef.name=internal-ca",
    )
    name = f"{RELEASE}-ragplane-triton"
    [certificate] = [c["spec"] for c in rendered.of_kind("Certificate") if c["metadata"]["name"] == name]
    dialled = _config(rendered, "generate")["RAGPLANE_MODEL_ADDR"].removeprefix("dns:///").rpartition(":")[0]
    assert dialled in certificate["dnsNames"]
    assert {"server auth", "client auth"} <= set(certificate["usages"])
    spec, _ = _triton(rendered)
    assert _tls_volume(spec)["secret"]["secretName"] == certificate["secretName"] == f"{name}-tls"


def test_triton_on_kserve_serves_tls_too(render):
    rendered = render("kserve-llm", "global.tls.enabled=true", "global.tls.secretName=ragplane-tls")
    assert rendered.workload("triton")["kind"] == "InferenceService"
    spec, container = _triton(rendered)
    assert container["args"] == [*TRITON_TLS_ARGS, "--grpc-use-ssl-mutual=true"]
    assert _tls_volume(spec)["secret"]["secretName"] == "ragplane-tls"
    assert {"name": "tls", "mountPath": MOUNT, "readOnly": True} in container["volumeMounts"]
    assert _config(rendered, "generate")["RAGPLANE_MODEL_SERVER_TLS"] == "true"


def test_tls_without_a_certificate_source_fails_with_what_to_set(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("tls-mtls")], ["global.tls.secretName="], check=False)
    assert done.returncode != 0
    assert "global.tls.enabled needs certificates: set global.tls.secretName" in done.stderr


@pytest.mark.integration
async def test_an_internal_service_runs_mutual_tls_from_its_rendered_environment(rendered_scenarios, tmp_path):
    """embed's rendered settings with the mounted files where a pod would see them (under tmp_path): the token
    works with a client certificate of the CA, the handshake fails without one, probes get SERVING in plaintext."""
    token = secrets.token_urlsafe(36)
    pki = issue_pki(tmp_path / "pki")
    values = {
        ("ragplane-service-token", "token"): token,
        ("ragplane-api-keys", "api-keys"): "client-key=acme",
    }
    environ = pod_environment(rendered_scenarios["tls-mtls"], "embed", values)
    mounted = tmp_path / MOUNT.lstrip("/")
    mounted.mkdir(parents=True)
    for source, target in ((pki.server.cert, "tls.crt"), (pki.server.key, "tls.key"), (pki.ca, "ca.crt")):
        (mounted / target).write_bytes(source.read_bytes())
    environ = {k: (str(tmp_path) + v if v.startswith(MOUNT) else v) for k, v in environ.items()}
    settings = dataclasses.replace(load_settings(CommonSettings, environ), grpc_health_listen="127.0.0.1:0")
    running = await start_service(
        ServicerApp("embed", [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, _Embed())]),
        settings,
        port=0,
        metrics=False,
    )
    metadata = [("authorization", f"Bearer {token}"), (TENANT_HEADER, "acme")]
    try:
        certified = channel_credentials(str(pki.ca), str(pki.client.cert), str(pki.client.key))
        async with grpc.aio.secure_channel(f"localhost:{running.port}", certified) as channel:
            reply = await embed_pb2_grpc.EmbedServiceStub(channel).Embed(embed_pb2.EmbedRequest(), metadata=metadata)
            assert reply.dense_model == "acme"
        async with grpc.aio.secure_channel(f"localhost:{running.port}", channel_credentials(str(pki.ca))) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await embed_pb2_grpc.EmbedServiceStub(channel).Embed(embed_pb2.EmbedRequest(), metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.health_port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop(0)
    assert Path(settings.tls_cert_file).is_relative_to(tmp_path)


class _Embed(embed_pb2_grpc.EmbedServiceServicer):
    async def Embed(self, request, context):  # noqa: N802 - gRPC method name
        from ragplane.runtime.context import current_tenant

        return embed_pb2.EmbedResponse(dense_model=current_tenant())


def test_private_cas_of_redis_and_qdrant_are_mounted_where_the_settings_point(render):
    rendered = render(
        "external-kafka-sasl",
        "redis.caSecret.name=redis-ca",
        "stateRedis.caSecret.name=state-redis-ca",
        "qdrant.caSecret.name=qdrant-ca",
    )
    for name, secret, variable in (
        ("orchestrator", "redis-ca", "RAGPLANE_REDIS_CA_FILE"),
        ("ingest", "state-redis-ca", "RAGPLANE_REDIS_CA_FILE"),
        ("retrieve", "qdrant-ca", "RAGPLANE_QDRANT_CA_FILE"),
    ):
        spec = pod_spec(rendered.workload(name))
        [volume] = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == secret]
        [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
        assert mount["readOnly"] is True
        path = _config(rendered, name)[variable]
        assert path == f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}", (name, path)
    # only the workload that uses a store gets its CA
    assert "RAGPLANE_QDRANT_CA_FILE" not in _config(rendered, "orchestrator")
    assert "RAGPLANE_REDIS_CA_FILE" not in _config(rendered, "retrieve")
