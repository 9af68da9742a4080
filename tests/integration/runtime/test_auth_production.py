"""Locked-down authentication through a real server: the code defaults refuse development credentials, the service
token has a minimum length, internal services take only the service token, and only the service token may name
the tenant.
"""

from __future__ import annotations

import secrets

import grpc
import pytest
from support.servers import ServicerApp, serve

from ragplane.runtime.context import TENANT_HEADER, current_tenant
from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, SettingsError, load_settings
from ragplane.v1 import embed_pb2, embed_pb2_grpc

pytestmark = pytest.mark.integration

TOKEN = secrets.token_urlsafe(36)
KEYS = "acme-key=acme"


class _WhoAmI(embed_pb2_grpc.EmbedServiceServicer):
    """Answers with the tenant the runtime authenticated the call as."""

    async def Embed(self, request, context):
        return embed_pb2.EmbedResponse(dense_model=current_tenant())


def _app(name: str) -> ServicerApp:
    return ServicerApp(name, [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, _WhoAmI())])


def _bearer(credential: str, tenant: str | None = None) -> list[tuple[str, str]]:
    metadata = [("authorization", f"Bearer {credential}")]
    return metadata + ([(TENANT_HEADER, tenant)] if tenant else [])


async def _whoami(served, metadata) -> str:
    reply = await served.stub(embed_pb2_grpc.EmbedServiceStub).Embed(embed_pb2.EmbedRequest(), metadata=metadata)
    return reply.dense_model


async def test_the_code_defaults_refuse_the_development_credentials():
    settings = load_settings(CommonSettings, {})
    assert settings.allow_dev_key is False
    with pytest.raises(SettingsError, match="RAGPLANE_SERVICE_TOKEN: is the development default"):
        await start_service(_app("embed"), settings, port=0, metrics=False)


async def test_a_short_service_token_is_refused_unless_development_keys_are_allowed():
    short = load_settings(CommonSettings, {}, api_keys=KEYS, service_token="s3cret-but-short")
    with pytest.raises(SettingsError, match="RAGPLANE_SERVICE_TOKEN: must be at least 32 characters .*, got 16"):
        await start_service(_app("orchestrator"), short, port=0, metrics=False)
    dev = load_settings(CommonSettings, {}, api_keys=KEYS, service_token="s3cret-but-short", allow_dev_key=True)
    async with serve(_app("orchestrator"), dev) as served:
        assert await _whoami(served, _bearer("acme-key")) == "acme"


async def test_an_internal_service_takes_only_the_service_token():
    settings = load_settings(CommonSettings, {}, api_keys=KEYS, service_token=TOKEN)
    async with serve(_app("embed"), settings) as served:
        assert await _whoami(served, _bearer(TOKEN, "acme")) == "acme"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _whoami(served, _bearer("acme-key"))
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_the_tenant_header_counts_only_with_the_service_token():
    settings = load_settings(CommonSettings, {}, api_keys=KEYS, service_token=TOKEN)
    async with serve(_app("orchestrator"), settings) as served:
        assert await _whoami(served, _bearer("acme-key", "globex")) == "acme"
        assert await _whoami(served, _bearer(TOKEN, "globex")) == "globex"
