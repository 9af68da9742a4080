"""`helm test`: a health-check Pod per deployed service, admitted by its NetworkPolicy, and its command, as
rendered, passes against a real service of the runtime (over mutual TLS in the TLS scenario)."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
from urllib.parse import urlsplit

import pytest
from chart import chartlib
from chart.chartlib import DEPLOYABLES, NAMESPACE, RELEASE
from support.certs import issue_pki
from support.servers import ServicerApp

from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import embed_pb2_grpc

pytestmark = pytest.mark.chart

TEST_LABELS = {"app.kubernetes.io/name": "helm-test", "app.kubernetes.io/instance": RELEASE}


def _test_pods(rendered) -> dict[str, dict]:
    pods = [p for p in rendered.of_kind("Pod") if p["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    return {p["metadata"]["name"].removeprefix(f"{RELEASE}-ragplane-").removesuffix("-test-health"): p for p in pods}


@pytest.mark.parametrize("scenario", chartlib.SCENARIOS)
def test_every_deployed_service_has_a_health_test_that_its_network_policy_admits(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    pods = _test_pods(rendered)
    assert set(pods) == set(DEPLOYABLES) & rendered.names()
    for name, pod in pods.items():
        spec = pod["spec"]
        assert pod["metadata"]["labels"].items() >= TEST_LABELS.items()
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] != name  # its Service never selects it
        [container] = spec["containers"]
        workload = chartlib.pod_spec(rendered.workload(name))["containers"][0]
        assert container["image"] == workload["image"]
        assert container["command"][:3] == ["python", "-m", "ragplane.runtime.healthcheck"]
        # host:port of a gRPC service; the gateway's http://host:port/readyz
        target = urlsplit(container["command"][3]) if name == "gateway" else urlsplit(f"//{container['command'][3]}")
        host, port = target.hostname, target.port
        tls = "--ca" in container["command"]
        assert name != "gateway" or (target.scheme, target.path) == ("https" if tls else "http", "/readyz")
        service = rendered.get("Service", host.removesuffix(f".{NAMESPACE}.svc"))
        port_name = "http" if name == "gateway" else "grpc"
        assert int(port) in {p["port"] for p in service["spec"]["ports"] if p["name"] == port_name}
        assert spec["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
        policy = rendered.get("NetworkPolicy", f"{RELEASE}-ragplane-{name}")["spec"]["ingress"]
        admitted = [
            rule
            for rule in policy
            if {"port": int(port), "protocol": "TCP"} in rule.get("ports", [])
            and any(
                peer.get("podSelector", {}).get("matchLabels", {}).items() <= pod["metadata"]["labels"].items()
                and peer.get("podSelector", {}).get("matchLabels")
                for peer in rule.get("from", [])
            )
        ]
        assert admitted, name


def test_tests_can_be_switched_off(render):
    rendered = render("cpu-dev", "tests.enabled=false")
    assert not _test_pods(rendered)
    assert "helm-test" not in json.dumps(rendered.of_kind("NetworkPolicy"))


async def test_the_rendered_tls_health_test_passes_against_a_real_mutual_tls_service(rendered_scenarios, tmp_path):
    pod = _test_pods(rendered_scenarios["tls-mtls"])["embed"]
    command = pod["spec"]["containers"][0]["command"]
    assert "--cert" in command and "--ca" in command
    server_name = command[command.index("--server-name") + 1]
    # The Secret the pod mounts, as the cluster's CA would issue it for the Service's name.
    pki = issue_pki(tmp_path / "pki", dns=(server_name,))
    mounted = tmp_path / "etc-ragplane-tls"
    mounted.mkdir()
    shutil.copy(pki.ca, mounted / "ca.crt")
    shutil.copy(pki.server.cert, mounted / "tls.crt")
    shutil.copy(pki.server.key, mounted / "tls.key")
    settings = load_settings(
        CommonSettings,
        {},
        api_keys="",
        service_token=secrets.token_urlsafe(36),
        tls_cert_file=str(pki.server.cert),
        tls_key_file=str(pki.server.key),
        tls_ca_file=str(pki.ca),
        tls_client_auth="require",
    )
    app = ServicerApp(
        "embed", [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, embed_pb2_grpc.EmbedServiceServicer())]
    )
    running = await start_service(app, settings, port=0, metrics=False)
    try:
        # the only substitutions: the Service's DNS name -> the loopback port, the mount path -> the files
        argv = [arg.replace("/etc/ragplane/tls", str(mounted)) for arg in command[1:]]
        argv[2] = running.address
        process = await asyncio.create_subprocess_exec(
            sys.executable, *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), 90)
    finally:
        await running.stop(0)
    assert process.returncode == 0, (out, err)
    assert json.loads(out)["status"] == "SERVING"
