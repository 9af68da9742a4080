"""``ragplane bench tls``: what TLS costs a ragplane gRPC hop, plaintext vs TLS vs mutual TLS.

A server behind the real runtime (interceptors, authentication, health) answers a small unary RPC on loopback,
with each transport in turn; certificates (ECDSA P-256, a test CA) are generated for the run. Measured:
- connect: a new channel's first call (TCP, the TLS handshake, HTTP/2 set-up, the call), ``--connections``
  times, each on a fresh channel;
- call: ``--calls`` unary calls on one open channel (the steady state: the handshake is paid once per
  connection, and servers close connections only after RAGPLANE_GRPC_MAX_CONNECTION_AGE_S).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import secrets
import tempfile
import time
from pathlib import Path

from ragplane.runtime.bench import BenchResult, latency_summary

HELP = "TLS handshake and per-call cost on one gRPC hop: plaintext, TLS, mutual TLS"
MODES = ("plaintext", "tls", "mtls")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The TLS benchmark's flags."""
    parser.add_argument("--connections", type=int, default=100, help="fresh channels per mode (connect cost)")
    parser.add_argument("--calls", type=int, default=500, help="calls on one open channel per mode")
    parser.add_argument("--payload-bytes", type=int, default=1024, help="size of each request's text")


def _certificates(folder: Path) -> dict[str, str]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files in ``folder``."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:  # pragma: no cover - cryptography ships with the runtime's dependencies
        raise SystemExit("ragplane bench tls needs the cryptography package: pip install cryptography") from exc

    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        (folder / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / f"{stem}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("bench CA"))
        .issuer_name(name("bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write("ca", ca, ca_key)
    for stem, usage, sans in (
        (
            "server",
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        ),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, []),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(f"bench {stem}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        write(stem, builder.sign(ca_key, hashes.SHA256()), key)
    return {stem: str(folder / stem) for stem in ("ca", "server", "client")}


class _Echo:
    """An internal service (embed's RPC) behind the runtime: answers with the tenant and the text length."""

    name = "embed"

    def register(self, server):
        from ragplane.v1 import embed_pb2, embed_pb2_grpc

        class Servicer(embed_pb2_grpc.EmbedServiceServicer):
            async def Embed(self, request, context):  # noqa: N802 - gRPC method name
                return embed_pb2.EmbedResponse(dense_model=str(sum(len(t) for t in request.texts)))

        embed_pb2_grpc.add_EmbedServiceServicer_to_server(Servicer(), server)
        return ["ragplane.v1.EmbedService"]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def _measure(mode: str, files: dict[str, str], args: argparse.Namespace) -> dict[str, dict]:
    import grpc

    from ragplane.runtime.context import TENANT_HEADER
    from ragplane.runtime.server import start_service
    from ragplane.runtime.settings import CommonSettings, load_settings
    from ragplane.runtime.tls import channel_credentials
    from ragplane.v1 import embed_pb2, embed_pb2_grpc

    token = secrets.token_urlsafe(36)
    tls = {}
    if mode != "plaintext":
        tls = {
            "tls_cert_file": files["server"] + ".crt",
            "tls_key_file": files["server"] + ".key",
            "tls_ca_file": files["ca"] + ".crt",
            "tls_client_auth": "require" if mode == "mtls" else "none",
        }
    settings = load_settings(CommonSettings, {}, api_keys="", service_token=token, **tls)
    running = await start_service(_Echo(), settings, port=0, metrics=False)
    metadata = [("authorization", f"Bearer {token}"), (TENANT_HEADER, "bench")]
    request = embed_pb2.EmbedRequest(texts=["x" * args.payload_bytes])

    def channel() -> grpc.aio.Channel:
        if mode == "plaintext":
            return grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        pair = (files["client"] + ".crt", files["client"] + ".key") if mode == "mtls" else ("", "")
        credentials = channel_credentials(files["ca"] + ".crt", *pair)
        return grpc.aio.secure_channel(f"localhost:{running.port}", credentials)

    connect_ms, call_ms = [], []
    try:
        for _ in range(args.connections):
            started = time.perf_counter()
            async with channel() as fresh:
                await embed_pb2_grpc.EmbedServiceStub(fresh).Embed(request, metadata=metadata, timeout=10)
                connect_ms.append((time.perf_counter() - started) * 1000)
        async with channel() as open_channel:
            stub = embed_pb2_grpc.EmbedServiceStub(open_channel)
            for _ in range(20):  # warm-up
                await stub.Embed(request, metadata=metadata, timeout=10)
            for _ in range(args.calls):
                started = time.perf_counter()
                await stub.Embed(request, metadata=metadata, timeout=10)
                call_ms.append((time.perf_counter() - started) * 1000)
    finally:
        await running.stop(0)
    return {"connect": latency_summary(connect_ms), "call": latency_summary(call_ms)}


def run(args: argparse.Namespace) -> list[BenchResult]:
    """One row per transport: connect (first call on a new channel) and steady-state call latency."""
    with tempfile.TemporaryDirectory() as folder:
        files = _certificates(Path(folder))
        measured = {mode: asyncio.run(_measure(mode, files, args)) for mode in MODES}
    result = BenchResult(
        "tls",
        ["connect p50 ms", "connect p95 ms", "call p50 ms", "call p95 ms", "call mean ms"],
        title=f"TLS on one gRPC hop ({args.connections} new channels, {args.calls} calls, "
        f"{args.payload_bytes}-byte requests)",
        notes="connect: a fresh channel's first call (TCP + TLS handshake + HTTP/2 + the call); call: on an open "
        "channel. ECDSA P-256 certificates, loopback, the runtime's interceptors and authentication.",
    )
    for mode in MODES:
        connect, call = measured[mode]["connect"], measured[mode]["call"]
        result.add(
            mode,
            {
                "connect p50 ms": connect["p50_ms"],
                "connect p95 ms": connect["p95_ms"],
                "call p50 ms": call["p50_ms"],
                "call p95 ms": call["p95_ms"],
                "call mean ms": call["mean_ms"],
            },
        )
    result.details = measured
    return [result]
