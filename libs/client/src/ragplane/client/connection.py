"""Where and how the client connects: addresses, API key, TLS and the channels' options."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

LOCAL_ORCHESTRATOR = "127.0.0.1:50051"
LOCAL_INGEST = "127.0.0.1:50052"
LOCAL_EVAL = "127.0.0.1:50058"
LOCAL_API_KEY = "dev-key"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# The calls that can run twice without a second effect; gRPC retries them when the server is UNAVAILABLE
# (restarting, or a connection closed for its age). The services list the same ones in
# ragplane.runtime.retry.IDEMPOTENT_METHODS (a test keeps this a subset of it).
IDEMPOTENT_METHODS: dict[str, tuple[str, ...]] = {
    "ragplane.v1.IngestService": ("GetDocumentStatus", "ListDocuments", "DeleteDocument"),
    "ragplane.v1.EvalService": ("GetReport",),
    "ragplane.v1.RagService": ("Search",),
}


def _service_config() -> str:
    names = [{"service": s, "method": m} for s, methods in IDEMPOTENT_METHODS.items() for m in methods]
    policy = {
        "maxAttempts": 4,
        "initialBackoff": "0.1s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})


CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.enable_retries", 1),
    ("grpc.service_config", _service_config()),
]


def _pem(value: str | bytes | Path | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    try:
        return Path(value).read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {value}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class TLS:
    """TLS towards ragplane's listeners.

    Attributes:
        ca: PEM of the CA that verifies the server (a path or the bytes); None for the system's CA store.
        cert: the client certificate, for servers that require one (mutual TLS); needs ``key``.
        key: the private key of ``cert``.
        server_name: the name to check the server's certificate against, when it differs from the address's host.
    """

    ca: str | bytes | Path | None = None
    cert: str | bytes | Path | None = None
    key: str | bytes | Path | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("TLS cert and key go together")

    def credentials(self) -> grpc.ChannelCredentials:
        """Channel credentials from the files (read now).

        Raises:
            ValueError: a file that cannot be read (naming it).
        """
        return grpc.ssl_channel_credentials(
            root_certificates=_pem(self.ca, "TLS ca"),
            private_key=_pem(self.key, "TLS key"),
            certificate_chain=_pem(self.cert, "TLS cert"),
        )

    def options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


@dataclass(frozen=True)
class Connection:
    """Addresses, credentials and defaults shared by ``Client`` and ``AsyncClient``.

    Attributes:
        address: the orchestrator (ask, ask_stream, feedback, search).
        ingest_address: the ingest service (ingest, documents).
        eval_address: the eval service (eval runs and reports).
        api_key: sent as ``authorization: Bearer <key>``; None sends no credentials.
        tls: None for plaintext (the local stack), else how to verify the server and who the client is.
        timeout: the deadline of a call that gives none, in seconds.
    """

    address: str = LOCAL_ORCHESTRATOR
    ingest_address: str = LOCAL_INGEST
    eval_address: str = LOCAL_EVAL
    api_key: str | None = None
    tls: TLS | None = None
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0, but got {self.timeout}")

    @classmethod
    def from_env(cls, **overrides: Any) -> Connection:
        """From RAGPLANE_ADDR, RAGPLANE_INGEST_ADDR, RAGPLANE_EVAL_ADDR, RAGPLANE_API_KEY (default: the local
        stack's dev-key) and RAGPLANE_CA_FILE (TLS when set); ``overrides`` win over the environment."""
        env = os.environ
        values: dict[str, Any] = {
            "address": env.get("RAGPLANE_ADDR") or LOCAL_ORCHESTRATOR,
            "ingest_address": env.get("RAGPLANE_INGEST_ADDR") or LOCAL_INGEST,
            "eval_address": env.get("RAGPLANE_EVAL_ADDR") or LOCAL_EVAL,
            "api_key": env.get("RAGPLANE_API_KEY") or LOCAL_API_KEY,
        }
        if env.get("RAGPLANE_CA_FILE"):
            values["tls"] = TLS(ca=env["RAGPLANE_CA_FILE"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()

    def timeout_of(self, timeout: float | None) -> float:
        return self.timeout if timeout is None else timeout

    def channel(self, target: str) -> grpc.Channel:
        if self.tls is None:
            return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        return grpc.secure_channel(target, self.tls.credentials(), options=CHANNEL_OPTIONS + self.tls.options())

    def aio_channel(self, target: str) -> grpc.aio.Channel:
        if self.tls is None:
            return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        return grpc.aio.secure_channel(target, self.tls.credentials(), options=CHANNEL_OPTIONS + self.tls.options())
