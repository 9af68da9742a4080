"""``python -m ragplane.runtime.healthcheck ADDRESS``: ask a gRPC server's standard health service (grpc.health.v1),
or, for an ``http://`` or ``https://`` URL (the gateway's ``/readyz``), GET it (``--ca`` verifies an HTTPS server).

The chart's ``helm test`` Pods run it in the service's own image against the Service's DNS name, over TLS when
the release serves TLS. It prints one JSON line and exits 0 when the server answers SERVING (an HTTP 200), 1 when
it answers anything else, and 2 when it cannot be reached (or the TLS handshake fails) until ``--wait`` runs out.

    python -m ragplane.runtime.healthcheck rp-ragplane-orchestrator.rag.svc:50051 --ca /etc/ragplane/tls/ca.crt
    python -m ragplane.runtime.healthcheck https://rp-ragplane-gateway.rag.svc:8080/readyz --ca /etc/ragplane/tls/ca.crt
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ragplane.runtime.tls import channel_credentials

SERVING = 0
NOT_SERVING = 1
UNREACHABLE = 2


def check(
    address: str,
    *,
    service: str = "",
    ca_file: str = "",
    cert_file: str = "",
    key_file: str = "",
    server_name: str = "",
    timeout_s: float = 5.0,
) -> str:
    """One health check: the status name the server answers (``SERVING``, ``NOT_SERVING``, ...).

    Args:
        address: host:port of the server.
        service: the health service name to ask about ("": the server as a whole).
        ca_file: verify the server with this CA bundle (TLS); empty: plaintext unless ``cert_file`` is given.
        cert_file, key_file: a client certificate, for servers that require one (mutual TLS).
        server_name: the name the server's certificate is checked against instead of the address's host.
        timeout_s: the call's deadline.

    Raises:
        grpc.RpcError: the server could not be reached or the call failed.
    """
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    if ca_file or cert_file:
        channel = grpc.secure_channel(address, channel_credentials(ca_file, cert_file, key_file), options=options)
    else:
        channel = grpc.insecure_channel(address)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


class Unreachable(Exception):
    """An HTTP server could not be reached."""


def check_http(url: str, timeout_s: float = 5.0, ca_file: str = "") -> str:
    """One GET of ``url``: ``SERVING`` for a 200, else ``HTTP <status>``.

    Args:
        url: an http:// or https:// URL.
        timeout_s: the request's timeout.
        ca_file: the CA bundle that verifies an HTTPS server (its certificate is checked against the URL's host);
            empty: the system's CAs.

    Raises:
        Unreachable: the server could not be reached (or the TLS handshake failed).
    """
    context = ssl.create_default_context(cafile=ca_file or None) if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(url, timeout=timeout_s, context=context) as reply:
            return "SERVING" if reply.status == 200 else f"HTTP {reply.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(str(getattr(exc, "reason", exc))) from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ragplane.runtime.healthcheck", description=__doc__.split("\n")[0])
    parser.add_argument("address", help="host:port of the gRPC server, or an http:// or https:// URL to GET")
    parser.add_argument("--service", default="", help="health service name (default: the whole server)")
    parser.add_argument("--ca", default="", help="CA bundle that verifies the server (TLS)")
    parser.add_argument("--cert", default="", help="client certificate (mutual TLS)")
    parser.add_argument("--key", default="", help="private key of --cert")
    parser.add_argument("--server-name", default="", help="name to check the server's certificate against")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline of one check in seconds")
    parser.add_argument("--wait", type=float, default=0.0, help="retry an unreachable server for this many seconds")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            if args.address.startswith(("http://", "https://")):
                status = check_http(args.address, timeout_s=args.timeout, ca_file=args.ca)
            else:
                status = check(
                    args.address,
                    service=args.service,
                    ca_file=args.ca,
                    cert_file=args.cert,
                    key_file=args.key,
                    server_name=args.server_name,
                    timeout_s=args.timeout,
                )
        except (grpc.RpcError, Unreachable) as exc:
            if time.monotonic() < deadline:
                time.sleep(1.0)
                continue
            error = f"{exc.code().name}: {exc.details()}" if isinstance(exc, grpc.RpcError) else str(exc)
            print(json.dumps({"address": args.address, "status": "UNREACHABLE", "error": error}), flush=True)
            return UNREACHABLE
        print(json.dumps({"address": args.address, "status": status}), flush=True)
        return SERVING if status == "SERVING" else NOT_SERVING


if __name__ == "__main__":
    sys.exit(main())
