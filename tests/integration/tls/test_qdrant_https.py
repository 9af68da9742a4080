"""retrieve's Qdrant client over https: the server is verified with RAGPLANE_QDRANT_CA_FILE and the API key
travels in the request headers.

No Qdrant server binary exists here, so a stub HTTPS server answers ``GET /`` with an old Qdrant's version:
``open()`` refusing that version proves the TLS session and the request; a client that trusts another CA does
not get that far.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support.certs import Pki

from ragplane_retrieve.store.base import StoreError
from ragplane_retrieve.store.qdrant_collections import StoreIncompatible
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.integration


class _Qdrant(BaseHTTPRequestHandler):
    seen_keys: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's method name
        type(self).seen_keys.append(self.headers.get("api-key", ""))
        body = json.dumps({"title": "qdrant - vector search engine", "version": "1.10.0"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return None


@contextlib.contextmanager
def _https_stub(pki: Pki) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Qdrant)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.cert, pki.server.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_qdrant_client_verifies_an_https_server_with_the_ca_and_sends_the_api_key(pki):
    _Qdrant.seen_keys.clear()
    with _https_stub(pki) as port:
        store = QdrantServerStore(f"https://localhost:{port}", "qdrant-key", ca_file=str(pki.ca), timeout_s=5)
        with pytest.raises(StoreIncompatible, match="1.10.0"):
            store.open()
        untrusted = QdrantServerStore(
            f"https://localhost:{port}", "qdrant-key", ca_file=str(pki.foreign_ca), timeout_s=5
        )
        with pytest.raises(StoreError, match="unreachable") as refused:
            untrusted.open()
    assert _Qdrant.seen_keys == ["qdrant-key"]
    assert not isinstance(refused.value, StoreIncompatible)
