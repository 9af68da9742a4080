"""HTTPS on the gateway's listener from RAGPLANE_TLS_CERT_FILE / _KEY_FILE, and a renewed certificate taken up by
new connections without a restart."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest
from ragplane_gateway.__main__ import server
from ragplane_gateway.config import load
from support.certs import issue_pki

from ragplane.runtime.settings import SettingsError

pytestmark = pytest.mark.integration


async def _serving(settings):
    http = server(settings)
    task = asyncio.create_task(http.serve())
    while not http.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return http, task, http.servers[0].sockets[0].getsockname()[1]


async def _peer_certificate(port: int, context: ssl.SSLContext) -> bytes:
    """The DER certificate the gateway presents on a new connection."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="localhost")
    try:
        return writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
        await writer.wait_closed()


def _der(pem_path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem_path.read_text())


async def test_gateway_serves_https_and_takes_up_a_renewed_certificate(tmp_path):
    pki = issue_pki(tmp_path / "first")
    renewal = issue_pki(tmp_path / "renewal")  # another CA and server certificate, as a renewal may bring
    settings = load(
        {},
        listen="127.0.0.1:0",
        tls_cert_file=str(pki.server.cert),
        tls_key_file=str(pki.server.key),
        tls_reload_s=0.1,
    )
    http, task, port = await _serving(settings)
    try:
        trust = ssl.create_default_context(cafile=str(pki.ca))
        trust.load_verify_locations(cafile=str(renewal.ca))
        async with httpx.AsyncClient(verify=trust) as client:
            assert (await client.get(f"https://localhost:{port}/healthz")).status_code == 200
        async with httpx.AsyncClient() as untrusting:  # the system store does not know the test CAs
            with pytest.raises(httpx.ConnectError):
                await untrusting.get(f"https://localhost:{port}/healthz")
        first = _der(pki.server.cert)
        assert await _peer_certificate(port, trust) == first

        # The Secret is rewritten in place; the key first, so for a moment the pair does not match (kept, logged).
        pki.server.key.write_bytes(renewal.server.key.read_bytes())
        await asyncio.sleep(0.2)
        assert await _peer_certificate(port, trust) == first
        pki.server.cert.write_bytes(renewal.server.cert.read_bytes())
        await asyncio.sleep(0.2)
        assert await _peer_certificate(port, trust) == _der(renewal.server.cert)
    finally:
        http.should_exit = True
        await task


def test_a_certificate_without_its_key_stops_the_start_naming_the_variable(tmp_path):
    pki = issue_pki(tmp_path)
    with pytest.raises(SettingsError, match="RAGPLANE_TLS_KEY_FILE"):
        server(load({}, tls_cert_file=str(pki.server.cert)))
