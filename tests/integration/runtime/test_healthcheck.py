"""``python -m ragplane.runtime.healthcheck`` (the chart's helm test command) against real servers of the runtime:
SERVING, NOT_SERVING, unreachable, and over mutual TLS with and without the right certificates."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import secrets
import ssl
import sys
import threading

import pytest
from support.certs import Pki, issue_pki
from support.processes import free_port
from support.servers import ServicerApp

from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import embed_pb2_grpc

pytestmark = pytest.mark.integration

TOKEN = secrets.token_urlsafe(36)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return issue_pki(tmp_path_factory.mktemp("pki"), dns=("rp-ragplane-embed.rag.svc",))


async def _healthcheck(*args: str) -> tuple[int, dict]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ragplane.runtime.healthcheck",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert out, err.decode()
    return process.returncode, json.loads(out.decode().strip().splitlines()[-1])


@contextlib.asynccontextmanager
async def _running(settings: CommonSettings):
    app = ServicerApp(
        "embed", [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, embed_pb2_grpc.EmbedServiceServicer())]
    )
    running = await start_service(app, settings, port=0, metrics=False)
    try:
        yield running
    finally:
        await running.stop(0)


def _plain() -> CommonSettings:
    return load_settings(CommonSettings, {}, api_keys="", service_token=TOKEN)


async def test_a_serving_server_passes_and_a_draining_one_fails():
    async with _running(_plain()) as running:
        code, out = await _healthcheck(running.address)
        assert (code, out["status"]) == (0, "SERVING")
        await running.set_serving(False)
        code, out = await _healthcheck(running.address)
        assert (code, out["status"]) == (1, "NOT_SERVING")


async def test_nothing_listening_is_unreachable_after_the_wait():
    code, out = await _healthcheck(f"127.0.0.1:{free_port()}", "--wait", "2", "--timeout", "1")
    assert code == 2 and out["status"] == "UNREACHABLE"


async def test_mutual_tls_needs_the_ca_and_a_certificate_of_it(pki):
    settings = load_settings(
        CommonSettings,
        {},
        api_keys="",
        service_token=TOKEN,
        tls_cert_file=str(pki.server.cert),
        tls_key_file=str(pki.server.key),
        tls_ca_file=str(pki.ca),
        tls_client_auth="require",
    )
    async with _running(settings) as running:
        address = running.address
        name = ("--server-name", "rp-ragplane-embed.rag.svc")
        mtls = ("--ca", str(pki.ca), "--cert", str(pki.client.cert), "--key", str(pki.client.key))
        code, out = await _healthcheck(address, *mtls, *name)
        assert (code, out["status"]) == (0, "SERVING")
        # plaintext, no client certificate, or a certificate of another CA: refused at the handshake
        for args in (
            (),
            ("--ca", str(pki.ca), *name),
            ("--ca", str(pki.ca), "--cert", str(pki.foreign_client.cert), "--key", str(pki.foreign_client.key)),
        ):
            code, out = await _healthcheck(address, *args, "--timeout", "2")
            assert (code, out["status"]) == (2, "UNREACHABLE"), args


class _Readiness(http.server.BaseHTTPRequestHandler):
    """GET /readyz: 200 while ``ready``, else 503 (as the gateway answers)."""

    ready = True

    def do_GET(self):  # noqa: N802 - the handler's name
        self.send_response(200 if self.path == "/readyz" and type(self).ready else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


async def test_an_http_url_is_ready_on_200_and_not_on_503():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readiness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/readyz"
    try:
        _Readiness.ready = True
        assert await _healthcheck(url) == (0, {"address": url, "status": "SERVING"})
        _Readiness.ready = False
        assert await _healthcheck(url) == (1, {"address": url, "status": "HTTP 503"})
    finally:
        server.shutdown()
    code, out = await _healthcheck(url, "--wait", "1", "--timeout", "1")
    assert code == 2 and out["status"] == "UNREACHABLE"


async def test_an_https_url_is_checked_with_the_ca_it_is_given(pki):
    _Readiness.ready = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readiness)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server.cert, pki.server.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://localhost:{server.server_address[1]}/readyz"
    try:
        assert await _healthcheck(url, "--ca", str(pki.ca)) == (0, {"address": url, "status": "SERVING"})
        # another CA's certificate is not trusted
        code, out = await _healthcheck(url, "--ca", str(pki.foreign_ca), "--timeout", "2")
        assert code == 2 and out["status"] == "UNREACHABLE" and "CERTIFICATE_VERIFY_FAILED" in out["error"], out
    finally:
        server.shutdown()
