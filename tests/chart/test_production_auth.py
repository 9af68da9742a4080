"""The chart's locked-down auth runs: an internal service starts from exactly its rendered environment and accepts
only the service token; every workload gets the credentials it needs.
"""

from __future__ import annotations

import dataclasses
import secrets

import grpc
import pytest
from chart import chartlib
from chart.chartlib import SCENARIOS, SERVICES, env_of, pod_spec
from chart.podenv import pod_environment
from support.servers import serve

from ragplane.runtime.context import TENANT_HEADER
from ragplane.runtime.settings import load_settings
from ragplane.v1 import embed_pb2, embed_pb2_grpc
from ragplane_embed.app import EmbedApp
from ragplane_embed.config import Settings as EmbedSettings

pytestmark = pytest.mark.chart

SERVICE_TOKEN = secrets.token_urlsafe(36)
CLIENT_KEY = "client-key-of-acme"
# Test values of every Secret the locked-down scenario references, keyed by (Secret name, key).
SECRETS = {
    ("ragplane-service-token", "token"): SERVICE_TOKEN,
    ("ragplane-api-keys", "api-keys"): f"{CLIENT_KEY}=acme",
    ("ragplane-kafka-user", "password"): "kafka-password",
    ("ragplane-redis", "password"): "redis-password",
    ("ragplane-qdrant", "api-key"): "qdrant-api-key",
}


@pytest.mark.integration
async def test_embed_starts_from_the_locked_down_rendered_environment_and_takes_only_the_service_token(
    rendered_scenarios,
):
    environ = pod_environment(rendered_scenarios["external-kafka-sasl"], "embed", SECRETS)
    assert environ["RAGPLANE_ALLOW_DEV_KEY"] == "false"
    settings = load_settings(EmbedSettings, environ)
    # The runtime gets exactly the rendered settings; only the app's consumer is off (the scenario's brokers are
    # example.net addresses).
    app = EmbedApp(dataclasses.replace(settings, consumer_enabled=False))
    async with serve(app, settings) as served:
        stub = served.stub(embed_pb2_grpc.EmbedServiceStub)
        request = embed_pb2.EmbedRequest(texts=["river delta"], input_type=embed_pb2.EMBED_INPUT_TYPE_DOCUMENT)
        internal = [("authorization", f"Bearer {SERVICE_TOKEN}"), (TENANT_HEADER, "acme")]
        reply = await stub.Embed(request, metadata=internal)
        assert len(reply.embeddings) == 1
        for credential in (CLIENT_KEY, "dev-key", "dev-service-token"):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.Embed(request, metadata=[("authorization", f"Bearer {credential}")])
            assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED, credential


def _locked_down(rendered) -> list[str]:
    """The services whose ConfigMap says RAGPLANE_ALLOW_DEV_KEY=false."""
    return [
        name
        for name in SERVICES
        if rendered.get("ConfigMap", f"{chartlib.RELEASE}-ragplane-{name}")["data"]["RAGPLANE_ALLOW_DEV_KEY"] == "false"
    ]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_locked_down_workload_gets_the_credentials_it_needs(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for name in _locked_down(rendered):
        env = env_of(pod_spec(rendered.workload(name))["containers"][0])
        assert "secretKeyRef" in env["RAGPLANE_SERVICE_TOKEN"], (scenario, name)
        if name in chartlib.CLIENT_FACING:
            assert env["RAGPLANE_API_KEYS"], (scenario, name)
        else:
            # Internal services take no client keys; the empty value keeps the code default out.
            assert env["RAGPLANE_API_KEYS"] == "", (scenario, name)
