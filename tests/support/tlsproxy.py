"""A TLS-terminating TCP proxy: puts TLS in front of a server that speaks only plaintext (the local broker).

``TlsProxy(upstream, cert, key, client_ca=...).start()`` listens on a loopback port, completes a TLS handshake
with each client (presenting ``cert``; with ``client_ca``, requiring a client certificate that CA signed) and
pumps the decrypted bytes to ``upstream``. It speaks nothing but TLS: a plaintext client never reaches the
upstream. Each failed handshake is counted, with its reason in ``handshake_errors``.

The Kafka tests start Tansu advertising the proxy's address, so the connections a client makes after bootstrap
(to the partition leader, the group coordinator) go through TLS too.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

from ragplane.cli import infra
from support.processes import free_port
from support.tcpproxy import TcpProxy

HANDSHAKE_TIMEOUT_S = 10.0


def broker_advertising(advertised: str, log_path: Path) -> infra.Proc:
    """Tansu on a free plaintext port that tells clients to connect to ``advertised`` (host:port): a proxy there
    then carries the bootstrap connection and every later one (partition leader, group coordinator)."""
    port = free_port()
    args = [
        infra.broker_binary(),
        "broker",
        "--listener-url",
        f"tcp://127.0.0.1:{port}",
        "--advertised-listener-url",
        f"tcp://{advertised}",
        "--storage-engine",
        "memory://tansu/",
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        infra.wait_port(port, 30, process, "broker")
    except infra.InfraError:
        infra.stop_pid(process.pid, 2)
        raise
    return infra.Proc("broker", process, port, log_path)


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A server-side TLS context presenting ``cert``; with ``client_ca``, it requires a client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(client_ca))
    return context


class TlsProxy(TcpProxy):
    """A loopback proxy to ``upstream`` ("host:port") that accepts only TLS connections.

    Args:
        upstream: the plaintext server connections go to.
        cert, key: the certificate (and its key) the proxy presents.
        client_ca: when set, a client must present a certificate signed by this CA.
        port: the port to listen on (a free one when 0).
    """

    def __init__(self, upstream: str, cert: Path, key: Path, *, client_ca: Path | None = None, port: int = 0) -> None:
        super().__init__(upstream, port)
        self._context = server_context(cert, key, client_ca)
        self.handshake_errors: list[str] = []

    @property
    def handshakes(self) -> int:
        """TLS connections completed and forwarded so far."""
        return self.accepted

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        # The handshake runs here rather than in start_server(ssl=...), where asyncio drops a failed one silently.
        try:
            await client_writer.start_tls(self._context, ssl_handshake_timeout=HANDSHAKE_TIMEOUT_S)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            self.handshake_errors.append(f"{type(exc).__name__}: {exc}")
            client_writer.transport.abort()
            return
        await super()._serve(client_reader, client_writer)
