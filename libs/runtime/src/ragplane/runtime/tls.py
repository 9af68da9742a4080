"""TLS for gRPC: server credentials that follow their mounted files, channel credentials, and the caller's identity.

A deployment mounts one certificate per workload (``RAGPLANE_TLS_CERT_FILE`` / ``_KEY_FILE``, server and client
usage) and the internal CA (``RAGPLANE_TLS_CA_FILE``):
- a server with a certificate serves TLS on its listener; the files are re-read when they change (a renewed
  Secret reaches new connections without a restart);
- a channel verifies its server against the CA whenever the CA is set, and presents the workload's certificate,
  so a server that requires client certificates (``RAGPLANE_TLS_CLIENT_AUTH=require``) can tell internal callers;
- the service token counts only from a caller whose client certificate the server verified against the internal
  CA (``peer_certified``) when client certificates are required: a leaked token alone is not enough.

gRPC Python cannot ask for a client certificate without requiring one, so a client-facing service, whose users
have no certificate, serves them on its public listener (TLS, no client certificate) and its internal callers on
``RAGPLANE_GRPC_INTERNAL_LISTEN`` (mutual TLS).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from ragplane.runtime.logs import get_logger
from ragplane.runtime.settings import CommonSettings, SettingsError

log = get_logger("ragplane.tls")

CLIENT_AUTH_MODES = ("none", "require")
# gRPC's auth context holds the peer's certificate only when it presented one that the server verified.
PEER_CERT_PROPERTY = "x509_pem_cert"


def server_tls_enabled(settings: CommonSettings) -> bool:
    """Whether the gRPC listeners serve TLS (a certificate and its key are configured)."""
    return bool(settings.tls_cert_file)


def client_tls_enabled(settings: CommonSettings) -> bool:
    """Whether channels to other ragplane services use TLS (the CA that signed their certificates is set)."""
    return bool(settings.tls_ca_file)


def mutual_tls(settings: CommonSettings) -> bool:
    """Whether servers require a client certificate signed by the internal CA from internal callers."""
    return server_tls_enabled(settings) and settings.tls_client_auth == "require"


def _readable(var: str, path: str) -> str | None:
    if not path:
        return None
    if not os.path.isfile(path):
        return f"{var}: {path!r} is not a file"
    if not os.access(path, os.R_OK):
        return f"{var}: {path!r} is not readable"
    return None


def check_tls(settings: CommonSettings) -> None:
    """Refuse a TLS configuration that cannot work, naming the variable.

    Raises:
        SettingsError: a certificate without its key (or the reverse), client certificates required without a
            CA to verify them, or a configured file that cannot be read.
    """
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        missing = "RAGPLANE_TLS_KEY_FILE" if settings.tls_cert_file else "RAGPLANE_TLS_CERT_FILE"
        raise SettingsError(f"{missing}: required when the other of RAGPLANE_TLS_CERT_FILE / _KEY_FILE is set")
    if settings.tls_client_auth == "require" and not (settings.tls_cert_file and settings.tls_ca_file):
        raise SettingsError(
            "RAGPLANE_TLS_CLIENT_AUTH: 'require' needs RAGPLANE_TLS_CERT_FILE, _KEY_FILE and RAGPLANE_TLS_CA_FILE "
            "(the CA that signs the internal client certificates)"
        )
    for var, path in (
        ("RAGPLANE_TLS_CERT_FILE", settings.tls_cert_file),
        ("RAGPLANE_TLS_KEY_FILE", settings.tls_key_file),
        ("RAGPLANE_TLS_CA_FILE", settings.tls_ca_file),
    ):
        problem = _readable(var, path)
        if problem:
            raise SettingsError(problem)


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


@dataclass(frozen=True)
class _Stamp:
    """What identifies one version of the mounted files (a Secret update swaps them)."""

    parts: tuple[tuple[int, int, int], ...]


def _stamp(paths: tuple[str, ...]) -> _Stamp:
    parts = []
    for path in paths:
        info = os.stat(path)
        parts.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return _Stamp(tuple(parts))


class CertificateFiles:
    """The server's certificate, key and (for client authentication) CA, re-read when the files change.

    gRPC asks ``fetch`` at every new TLS handshake; it answers None (keep the current configuration) unless the
    files changed since the last read. A half-written or invalid update keeps the configuration in force and is
    logged, so a bad rotation cannot take the listener down; connections already open keep their session.
    """

    def __init__(self, cert_file: str, key_file: str, ca_file: str = "", *, require_client_auth: bool = False) -> None:
        self._paths = tuple(p for p in (cert_file, key_file, ca_file) if p)
        self._cert_file, self._key_file, self._ca_file = cert_file, key_file, ca_file
        self._require_client_auth = require_client_auth
        self._lock = threading.Lock()
        self._stamp = _stamp(self._paths)
        self.initial = self._configuration()
        self.reloads = 0

    def _configuration(self) -> Any:
        """The files as gRPC's configuration, after checking that they parse and the key matches the certificate.

        Raises:
            OSError: a file cannot be read.
            ssl.SSLError: the certificate, key or CA does not parse, or the key is not the certificate's.
        """
        cert, key = _read(self._cert_file), _read(self._key_file)
        ca = _read(self._ca_file) if self._ca_file and self._require_client_auth else None
        # gRPC takes any bytes here and would fail every later handshake instead; Python's ssl checks them first.
        check = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        check.load_cert_chain(self._cert_file, self._key_file)
        if ca is not None:
            check.load_verify_locations(cadata=ca.decode("ascii", errors="replace"))
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)

    def fetch(self) -> Any:
        """The new configuration when the files changed since the last read, else None (gRPC's fetcher)."""
        with self._lock:
            try:
                stamp = _stamp(self._paths)
                if stamp == self._stamp:
                    return None
                configuration = self._configuration()
            except (OSError, ValueError) as exc:
                log.error("tls files not reloaded; the loaded certificate stays in force", error=str(exc))
                return None
            self._stamp = stamp
            self.reloads += 1
            log.info("tls certificate reloaded", cert_file=self._cert_file, reloads=self.reloads)
            return configuration

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self.initial, self.fetch, require_client_authentication=self._require_client_auth
        )


def server_credentials(settings: CommonSettings, *, require_client_auth: bool) -> grpc.ServerCredentials:
    """TLS credentials of a listener from the mounted files, following their changes (``CertificateFiles``).

    Args:
        settings: RAGPLANE_TLS_CERT_FILE, _KEY_FILE and (with ``require_client_auth``) RAGPLANE_TLS_CA_FILE.
        require_client_auth: the handshake fails unless the client presents a certificate signed by the CA.

    Raises:
        SettingsError: a file does not parse or the key is not the certificate's.
    """
    try:
        files = CertificateFiles(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file, require_client_auth=require_client_auth
        )
    except OSError as exc:  # ssl.SSLError included
        raise SettingsError(f"RAGPLANE_TLS_CERT_FILE / _KEY_FILE / RAGPLANE_TLS_CA_FILE: unusable: {exc}") from None
    return files.credentials()


def channel_credentials(ca_file: str, cert_file: str = "", key_file: str = "") -> grpc.ChannelCredentials:
    """Credentials that verify the server against ``ca_file`` and present ``cert_file``/``key_file`` when given.

    Raises:
        OSError: a file cannot be read; ssl.SSLError (an OSError): a file does not parse or the key is not the
            certificate's (gRPC would accept the bytes and fail every handshake instead).
    """
    check = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        check.load_verify_locations(cafile=ca_file)
    if cert_file:
        check.load_cert_chain(cert_file, key_file or None)
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca_file) if ca_file else None,
        private_key=_read(key_file) if key_file else None,
        certificate_chain=_read(cert_file) if cert_file else None,
    )


def service_channel_credentials(settings: CommonSettings) -> grpc.ChannelCredentials | None:
    """The credentials of a channel to another ragplane service, or None for plaintext (no CA configured).

    The workload's own certificate goes with them, which servers that require client certificates verify.
    """
    if not client_tls_enabled(settings):
        return None
    return channel_credentials(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)


def target_name_options(settings: CommonSettings) -> list[tuple[str, str]]:
    """Channel arguments that verify the server's certificate for RAGPLANE_TLS_SERVER_NAME instead of the
    address's host (a certificate issued for the Service name reached through another address)."""
    if settings.tls_server_name:
        return [("grpc.ssl_target_name_override", settings.tls_server_name)]
    return []


def peer_certified(auth_context: Mapping[str, Any]) -> bool:
    """Whether the caller presented a client certificate that the server verified against the internal CA."""
    return bool(auth_context.get(PEER_CERT_PROPERTY))


def redis_tls_options(url: str, ca_file: str) -> dict[str, Any]:
    """Arguments of ``redis.asyncio.Redis.from_url`` for ``url``: with ``rediss://``, verify the server's
    certificate and host name against ``ca_file`` (RAGPLANE_REDIS_CA_FILE; empty: the system CA store)."""
    if not url.startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if ca_file:
        options["ssl_ca_certs"] = ca_file
    return options


class RenewingChannel(grpc.aio.Channel):
    """A channel whose TLS credentials follow their files: a renewed client certificate (or CA) is used for new
    calls without restarting the process.

    gRPC reads channel credentials once, so this keeps an inner channel and, at most every ``check_s`` when a
    call starts, compares the files' identity; after a change it opens a new inner channel for new calls and
    closes the old one ``retire_after_s`` later, when the calls on it have finished. Stubs built on this
    channel resolve the inner channel per call, so they need not be rebuilt.

    Args:
        open_channel: makes an inner channel from the current files.
        paths: the files the credentials are read from.
        check_s: least seconds between two checks of the files.
        retire_after_s: how long a replaced inner channel stays open.
    """

    def __init__(
        self,
        open_channel: Callable[[], grpc.aio.Channel],
        paths: tuple[str, ...],
        *,
        check_s: float,
        retire_after_s: float,
    ) -> None:
        self._open = open_channel
        self._paths = tuple(p for p in paths if p)
        self._check_s = check_s
        self._retire_after_s = retire_after_s
        self._inner = open_channel()
        self._stamp = _stamp(self._paths)
        self._checked = time.monotonic()
        self._retiring: dict[asyncio.Task, grpc.aio.Channel] = {}
        self.renewals = 0

    def current(self) -> grpc.aio.Channel:
        """The inner channel for a new call (a new one after the files changed)."""
        now = time.monotonic()
        if now - self._checked < self._check_s:
            return self._inner
        self._checked = now
        try:
            stamp = _stamp(self._paths)
            if stamp == self._stamp:
                return self._inner
            fresh = self._open()
        except (OSError, ValueError) as exc:
            log.error("tls files not reloaded; the channel keeps its credentials", error=str(exc))
            return self._inner
        old, self._inner, self._stamp = self._inner, fresh, stamp
        self.renewals += 1
        log.info("tls client credentials reloaded", renewals=self.renewals)
        task = asyncio.get_running_loop().create_task(self._retire(old))
        self._retiring[task] = old
        task.add_done_callback(lambda done: self._retiring.pop(done, None))
        return self._inner

    async def _retire(self, channel: grpc.aio.Channel) -> None:
        await asyncio.sleep(self._retire_after_s)
        await channel.close()

    def unary_unary(self, method, request_serializer=None, response_deserializer=None, _registered_method=False):
        return _PerCall(self, "unary_unary", method, request_serializer, response_deserializer)

    def unary_stream(self, method, request_serializer=None, response_deserializer=None, _registered_method=False):
        return _PerCall(self, "unary_stream", method, request_serializer, response_deserializer)

    def stream_unary(self, method, request_serializer=None, response_deserializer=None, _registered_method=False):
        return _PerCall(self, "stream_unary", method, request_serializer, response_deserializer)

    def stream_stream(self, method, request_serializer=None, response_deserializer=None, _registered_method=False):
        return _PerCall(self, "stream_stream", method, request_serializer, response_deserializer)

    async def close(self, grace: float | None = None) -> None:
        """Close the channel and any replaced one still open (their calls get ``grace``)."""
        retiring = list(self._retiring.items())
        self._retiring.clear()
        for task, channel in retiring:
            task.cancel()
            await channel.close(grace)
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

    async def __aenter__(self) -> RenewingChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close(None)


class _PerCall:
    """A stub's multi-callable that sends each call on the channel's current inner channel."""

    def __init__(self, owner: RenewingChannel, kind: str, method: str, serializer: Any, deserializer: Any) -> None:
        self._owner = owner
        self._kind = kind
        self._args = (method, serializer, deserializer)
        self._inner: grpc.aio.Channel | None = None
        self._callable: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._owner.current()
        if inner is not self._inner:
            self._inner = inner
            self._callable = getattr(inner, self._kind)(*self._args)
        return self._callable(*args, **kwargs)
