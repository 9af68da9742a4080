"""gRPC over TLS through the real runtime: server TLS from mounted files, channels that verify the server, mutual
TLS between services, and the service token honoured only from a caller with an internal client certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.certs import Pki, issue_pki
from support.servers import ServicerApp

from ragplane.runtime.clients import service_channel
from ragplane.runtime.context import TENANT_HEADER, current_tenant, tenant_var
from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, SettingsError, load_settings
from ragplane.runtime.tls import channel_credentials
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


def _settings(pki: Pki, *, client_auth: str = "none", **overrides) -> CommonSettings:
    values = {
        "api_keys": KEYS,
        "service_token": TOKEN,
        "tls_cert_file": str(pki.server.cert),
        "tls_key_file": str(pki.server.key),
        "tls_ca_file": str(pki.ca),
        "tls_client_auth": client_auth,
    }
    return load_settings(CommonSettings, {}, **{**values, **overrides})


def _token(tenant: str = "acme") -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {TOKEN}"), (TENANT_HEADER, tenant)]


@contextlib.asynccontextmanager
async def _running(name: str, settings: CommonSettings):
    running = await start_service(_app(name), settings, port=0, metrics=False)
    try:
        yield running
    finally:
        await running.stop(0)


def _secure(port: int, ca: Path | None, pair=None) -> grpc.aio.Channel:
    credentials = channel_credentials(
        str(ca) if ca else "", str(pair.cert) if pair else "", str(pair.key) if pair else ""
    )
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials)


async def _embed(channel: grpc.aio.Channel, metadata) -> str:
    reply = await embed_pb2_grpc.EmbedServiceStub(channel).Embed(embed_pb2.EmbedRequest(), metadata=metadata, timeout=5)
    return reply.dense_model


async def test_a_tls_server_answers_a_client_that_verifies_it_with_the_ca(pki):
    async with _running("orchestrator", _settings(pki)) as running:
        async with _secure(running.port, pki.ca) as channel:
            assert await _embed(channel, [("authorization", "Bearer acme-key")]) == "acme"


async def test_a_client_without_the_ca_or_in_plaintext_cannot_call_a_tls_server(pki):
    async with _running("orchestrator", _settings(pki)) as running:
        async with _secure(running.port, pki.foreign_ca) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as untrusted:
                await _embed(channel, [("authorization", "Bearer acme-key")])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as plaintext:
                await _embed(channel, [("authorization", "Bearer acme-key")])
    assert untrusted.value.code() == grpc.StatusCode.UNAVAILABLE
    assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_refuses_the_handshake_of_a_client_without_an_internal_certificate(pki):
    async with _running("embed", _settings(pki, client_auth="require")) as running:
        for pair in (None, pki.foreign_client):
            async with _secure(running.port, pki.ca, pair) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await _embed(channel, _token())
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        async with _secure(running.port, pki.ca, pki.client) as channel:
            assert await _embed(channel, _token("globex")) == "globex"


async def test_the_service_token_without_a_client_certificate_is_permission_denied(pki):
    """A client-facing service under mutual TLS: users reach its public listener with no certificate; the token
    (and the tenant header) count only on the internal listener, from a certified caller."""
    settings = _settings(pki, client_auth="require", grpc_internal_listen="127.0.0.1:0")
    async with _running("orchestrator", settings) as running:
        assert running.internal_port and running.internal_port != running.port
        async with _secure(running.port, pki.ca) as public:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await _embed(public, _token("globex"))
            assert await _embed(public, [("authorization", "Bearer acme-key")]) == "acme"
        async with _secure(running.internal_port, pki.ca, pki.client) as internal:
            assert await _embed(internal, _token("globex")) == "globex"
        async with _secure(running.internal_port, pki.ca) as uncertified:
            with pytest.raises(grpc.aio.AioRpcError) as handshake:
                await _embed(uncertified, _token("globex"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "internal client certificate" in denied.value.details()
    assert handshake.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_without_tls_the_service_token_works_as_before(pki):
    plain = load_settings(CommonSettings, {}, api_keys=KEYS, service_token=TOKEN)
    async with _running("embed", plain) as running:
        async with grpc.aio.insecure_channel(running.address) as channel:
            assert await _embed(channel, _token("globex")) == "globex"


async def test_service_channels_carry_tls_and_the_client_certificate_to_a_mutual_tls_peer(pki):
    """The runtime's own client (service_channel) with the caller's settings reaches an internal service that
    requires client certificates, and carries the tenant under the service token."""
    async with _running("embed", _settings(pki, client_auth="require")) as running:
        caller = _settings(pki, client_auth="require")
        channel = service_channel(f"127.0.0.1:{running.port}", TOKEN, settings=caller)
        token = tenant_var.set("initech")
        try:
            assert await _embed(channel, None) == "initech"
        finally:
            tenant_var.reset(token)
            await channel.close()


async def test_the_plaintext_health_listener_answers_probes_while_the_service_port_speaks_tls(pki):
    settings = _settings(pki, client_auth="require", grpc_health_listen="127.0.0.1:0")
    async with _running("embed", settings) as running:
        assert running.health_port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.health_port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as other:
                await _embed(channel, _token())
        assert other.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(pki, tmp_path):
    """The listener re-reads its mounted files: after the Secret is swapped for one from a new CA, a client that
    trusts only the new CA connects, without the service restarting."""
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for source, target in ((pki.server.cert, "tls.crt"), (pki.server.key, "tls.key"), (pki.ca, "ca.crt")):
        shutil.copy(source, mounted / target)
    settings = load_settings(
        CommonSettings,
        {},
        api_keys=KEYS,
        service_token=TOKEN,
        tls_cert_file=str(mounted / "tls.crt"),
        tls_key_file=str(mounted / "tls.key"),
        tls_ca_file=str(mounted / "ca.crt"),
    )
    renewed = issue_pki(tmp_path / "renewed")
    async with _running("orchestrator", settings) as running:
        async with _secure(running.port, pki.ca) as channel:
            assert await _embed(channel, [("authorization", "Bearer acme-key")]) == "acme"
        async with _secure(running.port, renewed.ca) as channel:
            with pytest.raises(grpc.aio.AioRpcError):
                await _embed(channel, [("authorization", "Bearer acme-key")])
        # A Secret update swaps the files (kubelet renames a new directory into place).
        shutil.copy(renewed.server.cert, mounted / "tls.crt.new")
        shutil.copy(renewed.server.key, mounted / "tls.key.new")
        (mounted / "tls.key.new").rename(mounted / "tls.key")
        (mounted / "tls.crt.new").rename(mounted / "tls.crt")
        async with _secure(running.port, renewed.ca) as channel:
            assert await _embed(channel, [("authorization", "Bearer acme-key")]) == "acme"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tls_key_file": ""}, "RAGPLANE_TLS_KEY_FILE: required"),
        ({"tls_ca_file": ""}, "RAGPLANE_TLS_CLIENT_AUTH: 'require' needs"),
        ({"tls_ca_file": "/nonexistent/ca.crt"}, "RAGPLANE_TLS_CA_FILE: '/nonexistent/ca.crt' is not a file"),
    ],
)
async def test_a_tls_configuration_that_cannot_work_stops_the_service_at_start(pki, overrides, message):
    with pytest.raises(SettingsError, match=message):
        await start_service(_app("embed"), _settings(pki, client_auth="require", **overrides), port=0, metrics=False)


class _PeerName(embed_pb2_grpc.EmbedServiceServicer):
    """Answers with the common name of the client certificate the call came with."""

    async def Embed(self, request, context):
        names = context.auth_context().get("x509_common_name", [b""])
        return embed_pb2.EmbedResponse(dense_model=names[0].decode())


async def test_a_renewed_client_certificate_is_presented_on_new_calls_without_a_restart(pki, tmp_path):
    """cert-manager rewrites the mounted Secret before the certificate expires; a service channel (and the stub
    built on it) presents the new certificate to a mutual-TLS peer once it sees the new files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from support.certs import issue, write_pair

    server_settings = _settings(pki, client_auth="require")
    app = ServicerApp("embed", [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, _PeerName())])
    running = await start_service(app, server_settings, port=0, metrics=False)
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for source, target in ((pki.client.cert, "tls.crt"), (pki.client.key, "tls.key"), (pki.ca, "ca.crt")):
        shutil.copy(source, mounted / target)
    caller = load_settings(
        CommonSettings,
        {},
        service_token=TOKEN,
        tls_cert_file=str(mounted / "tls.crt"),
        tls_key_file=str(mounted / "tls.key"),
        tls_ca_file=str(mounted / "ca.crt"),
        tls_reload_s=0.1,
    )
    channel = service_channel(f"localhost:{running.port}", TOKEN, settings=caller)
    stub = embed_pb2_grpc.EmbedServiceStub(channel)
    token = tenant_var.set("acme")
    try:
        assert (await stub.Embed(embed_pb2.EmbedRequest(), timeout=5)).dense_model == "ragplane-client"
        ca = (
            x509.load_pem_x509_certificate(pki.ca.read_bytes()),
            serialization.load_pem_private_key((pki.ca.parent / "ca.key").read_bytes(), password=None),
        )
        renewed = write_pair(issue(ca, "renewed-client", server=False), tmp_path, "renewed")
        shutil.copy(renewed.key, mounted / "tls.key.new")
        shutil.copy(renewed.cert, mounted / "tls.crt.new")
        (mounted / "tls.key.new").rename(mounted / "tls.key")
        (mounted / "tls.crt.new").rename(mounted / "tls.crt")
        await asyncio.sleep(0.3)
        assert (await stub.Embed(embed_pb2.EmbedRequest(), timeout=5)).dense_model == "renewed-client"
    finally:
        tenant_var.reset(token)
        await channel.close()
        await running.stop(0)


async def test_a_broken_renewal_keeps_the_certificate_in_force_and_a_good_one_follows(pki, tmp_path):
    """A half-written or mismatched Secret update must not take the listener down: new connections keep getting
    the loaded certificate until a valid pair arrives."""
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for source, target in ((pki.server.cert, "tls.crt"), (pki.server.key, "tls.key")):
        shutil.copy(source, mounted / target)
    settings = load_settings(
        CommonSettings,
        {},
        api_keys=KEYS,
        service_token=TOKEN,
        tls_cert_file=str(mounted / "tls.crt"),
        tls_key_file=str(mounted / "tls.key"),
    )
    renewed = issue_pki(tmp_path / "renewed")
    async with _running("orchestrator", settings) as running:
        (mounted / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        async with _secure(running.port, pki.ca) as channel:
            assert await _embed(channel, [("authorization", "Bearer acme-key")]) == "acme"
        # a new certificate with the old key: the pair does not match
        shutil.copy(renewed.server.cert, mounted / "tls.crt")
        async with _secure(running.port, pki.ca) as channel:
            assert await _embed(channel, [("authorization", "Bearer acme-key")]) == "acme"
        shutil.copy(renewed.server.key, mounted / "tls.key")
        async with _secure(running.port, renewed.ca) as channel:
            assert await _embed(channel, [("authorization", "Bearer acme-key")]) == "acme"


async def test_an_unusable_certificate_stops_the_service_at_start_naming_the_settings(pki, tmp_path):
    garbage = tmp_path / "tls.crt"
    garbage.write_text("not a certificate")
    settings = _settings(pki, tls_cert_file=str(garbage))
    with pytest.raises(SettingsError, match="RAGPLANE_TLS_CERT_FILE / _KEY_FILE / RAGPLANE_TLS_CA_FILE: unusable"):
        await start_service(_app("embed"), settings, port=0, metrics=False)


async def test_a_broken_client_certificate_update_keeps_the_channel_on_its_certificate(pki, tmp_path):
    server_settings = _settings(pki, client_auth="require")
    app = ServicerApp("embed", [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, _PeerName())])
    running = await start_service(app, server_settings, port=0, metrics=False)
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    for source, target in ((pki.client.cert, "tls.crt"), (pki.client.key, "tls.key"), (pki.ca, "ca.crt")):
        shutil.copy(source, mounted / target)
    caller = load_settings(
        CommonSettings,
        {},
        service_token=TOKEN,
        tls_cert_file=str(mounted / "tls.crt"),
        tls_key_file=str(mounted / "tls.key"),
        tls_ca_file=str(mounted / "ca.crt"),
        tls_reload_s=0.1,
    )
    channel = service_channel(f"localhost:{running.port}", TOKEN, settings=caller)
    stub = embed_pb2_grpc.EmbedServiceStub(channel)
    token = tenant_var.set("acme")
    try:
        (mounted / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\nhalf written")
        await asyncio.sleep(0.3)
        assert (await stub.Embed(embed_pb2.EmbedRequest(), timeout=5)).dense_model == "ragplane-client"
        assert channel.renewals == 0
    finally:
        tenant_var.reset(token)
        await channel.close()
        await running.stop(0)
