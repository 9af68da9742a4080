"""Credentials in gRPC metadata -> tenant.

End users send ``authorization: Bearer <api key>`` (or ``x-api-key``); the key maps to a tenant through
RAGPLANE_API_KEYS, inline or a mounted file that is re-read when it changes. Services calling each other send the
service token as the bearer credential plus the caller's tenant in ``x-ragplane-tenant``; that header is trusted
only together with the service token. Internal services accept only the service token unless development keys
are allowed.

With mutual TLS (RAGPLANE_TLS_CLIENT_AUTH=require) the service token is an internal credential in the strict
sense: it counts only on a call whose caller presented a client certificate that the server verified against the
internal CA (see tls.py). A client of a public listener that learned the token still gets PERMISSION_DENIED.
Without TLS (the local stack) the token alone is enough, as before.
"""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ragplane.runtime.context import PRINCIPAL_HEADER, TENANT_HEADER, hash_identity
from ragplane.runtime.errors import PermissionDenied, Unauthenticated
from ragplane.runtime.logs import get_logger
from ragplane.runtime.services import is_internal
from ragplane.runtime.settings import CommonSettings, SettingsError

log = get_logger("ragplane.auth")

_TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
DEV_API_KEY = "dev-key"
DEV_SERVICE_TOKEN = "dev-service-token"
MIN_SERVICE_TOKEN_CHARS = 32


class ApiKeyError(ValueError):
    """RAGPLANE_API_KEYS is malformed."""


def validate_tenant(tenant: str) -> str:
    if not _TENANT_RE.match(tenant):
        raise ValueError(f"tenant must match {_TENANT_RE.pattern}, but got {tenant!r}")
    return tenant


def _names_a_file(spec: str) -> bool:
    # No inline entry: the value names a file (a mounted secret, say).
    return "=" not in spec and bool(spec.strip())


def _read_key_file(path: str) -> str:
    if not os.path.isfile(path):
        raise ApiKeyError(f"RAGPLANE_API_KEYS: {path!r} is neither key=tenant pairs nor an existing file")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _parse_entries(text: str) -> dict[str, str]:
    keys: dict[str, str] = {}
    for raw in re.split(r"[,\n]", text):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        key, sep, tenant = entry.partition("=")
        key, tenant = key.strip(), tenant.strip()
        if not sep or not key or not tenant:
            raise ApiKeyError(f"RAGPLANE_API_KEYS: entry {entry!r} is not key=tenant")
        try:
            validate_tenant(tenant)
        except ValueError as exc:
            raise ApiKeyError(f"RAGPLANE_API_KEYS: {exc}") from None
        keys[key] = tenant
    return keys


def parse_api_keys(spec: str) -> dict[str, str]:
    """Parse ``key=tenant,key2=tenant2`` or a file with one ``key=tenant`` per line ('#' comments).

    Raises:
        ApiKeyError: naming the bad entry.
    """
    return _parse_entries(_read_key_file(spec) if _names_a_file(spec) else spec)


class KeySource(Protocol):
    """Where an Authenticator gets the client keys in force."""

    def current(self) -> Mapping[str, str]:
        """The keys in force now, key -> tenant."""


class StaticKeys:
    """Keys fixed at start (inline RAGPLANE_API_KEYS, or none)."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = dict(keys)

    def current(self) -> Mapping[str, str]:
        return self._keys


class KeyFile:
    """Keys from a file (a mounted Secret), re-read when its content changes, checked at most every ``reload_s``.

    A rotated Secret reaches the pod as a new file; added keys start working and removed keys stop within about
    ``reload_s`` of that. An update that does not parse (or a file that went missing) keeps the keys in force
    and is logged, so a bad edit cannot lock every client out.
    """

    def __init__(self, path: str, reload_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._path = path
        self._reload_s = reload_s
        self._clock = clock
        self._text = _read_key_file(path)
        self._keys = _parse_entries(self._text)
        self._checked = clock()

    def current(self) -> Mapping[str, str]:
        now = self._clock()
        if now - self._checked >= self._reload_s:
            self._checked = now
            self._reload()
        return self._keys

    def _reload(self) -> None:
        try:
            text = _read_key_file(self._path)
            if text == self._text:
                return
            keys = _parse_entries(text)
        except (OSError, ApiKeyError) as exc:
            log.error("api keys not reloaded; the loaded keys stay in force", path=self._path, error=str(exc))
            return
        self._text, self._keys = text, keys
        log.info("api keys reloaded", path=self._path, keys=len(keys))


def key_source(spec: str, reload_s: float) -> KeySource:
    """The keys of RAGPLANE_API_KEYS: a KeyFile when it names a file, else the inline pairs.

    Raises:
        ApiKeyError: naming the bad entry or the missing file.
    """
    return KeyFile(spec, reload_s) if _names_a_file(spec) else StaticKeys(_parse_entries(spec))


@dataclass(frozen=True)
class Identity:
    tenant: str
    # Hashed key or the forwarded principal; never a raw credential.
    principal: str
    internal: bool


class Authenticator:
    """Resolves call metadata to an Identity or raises Unauthenticated."""

    def __init__(
        self,
        api_keys: Mapping[str, str] | KeySource,
        service_token: str,
        *,
        token_needs_certified_peer: bool = False,
    ) -> None:
        """
        Args:
            api_keys: client keys (key -> tenant) or where to get them.
            service_token: the credential of service-to-service calls.
            token_needs_certified_peer: honour the service token only from a caller with a verified client
                certificate (mutual TLS); otherwise from any caller.
        """
        self._keys: KeySource = api_keys if hasattr(api_keys, "current") else StaticKeys(api_keys)  # type: ignore[arg-type]
        self._service_token = service_token
        self.token_needs_certified_peer = token_needs_certified_peer

    @staticmethod
    def _credential(metadata: Mapping[str, str]) -> str | None:
        auth = metadata.get("authorization")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthenticated("authorization metadata must be 'Bearer <key>'")
            return value.strip()
        return metadata.get("x-api-key")

    def authenticate(self, metadata: Mapping[str, str], *, certified_peer: bool = False) -> Identity:
        """The identity of a call.

        Args:
            metadata: the call's metadata.
            certified_peer: the caller presented a client certificate the server verified (tls.peer_certified).

        Raises:
            Unauthenticated: no, malformed or unknown credentials.
            PermissionDenied: the service token from a caller without an internal client certificate (mutual TLS).
        """
        credential = self._credential(metadata)
        if not credential:
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <api key>' metadata")
        if self._service_token and hmac.compare_digest(credential, self._service_token):
            if self.token_needs_certified_peer and not certified_peer:
                raise PermissionDenied(
                    "the service token is accepted only from a caller with an internal client certificate"
                )
            tenant = metadata.get(TENANT_HEADER)
            if not tenant:
                raise Unauthenticated(f"service call without {TENANT_HEADER} metadata")
            try:
                validate_tenant(tenant)
            except ValueError as exc:
                raise Unauthenticated(str(exc)) from None
            return Identity(tenant=tenant, principal=metadata.get(PRINCIPAL_HEADER, "service"), internal=True)
        for key, tenant in self._keys.current().items():
            if hmac.compare_digest(credential, key):
                return Identity(tenant=tenant, principal=hash_identity(key), internal=False)
        raise Unauthenticated("unknown API key")


def _refuse_weak_token(token: str) -> None:
    if token == DEV_SERVICE_TOKEN:
        raise SettingsError("RAGPLANE_SERVICE_TOKEN: is the development default while RAGPLANE_ALLOW_DEV_KEY is false")
    if len(token) < MIN_SERVICE_TOKEN_CHARS:
        raise SettingsError(
            f"RAGPLANE_SERVICE_TOKEN: must be at least {MIN_SERVICE_TOKEN_CHARS} characters while "
            f"RAGPLANE_ALLOW_DEV_KEY is false, got {len(token)}"
        )


def build_authenticator(settings: CommonSettings, service: str) -> Authenticator:
    """The authenticator of ``service``, refusing weak credentials unless development keys are allowed.

    Locked down (RAGPLANE_ALLOW_DEV_KEY false), an internal service (see services.py) accepts only the service
    token and ignores RAGPLANE_API_KEYS; a client-facing one refuses the development key. With mutual TLS
    (RAGPLANE_TLS_CLIENT_AUTH=require and a certificate) the token counts only from certified callers.

    Raises:
        SettingsError: naming the variable whose value is refused.
    """
    mutual = settings.tls_client_auth == "require" and bool(settings.tls_cert_file)
    if settings.allow_dev_key:
        return Authenticator(_keys_of(settings), settings.service_token, token_needs_certified_peer=mutual)
    if is_internal(service):
        _refuse_weak_token(settings.service_token)
        return Authenticator(StaticKeys({}), settings.service_token, token_needs_certified_peer=mutual)
    keys = _keys_of(settings)
    if DEV_API_KEY in keys.current():
        raise SettingsError(
            "RAGPLANE_API_KEYS: contains the development key 'dev-key' while RAGPLANE_ALLOW_DEV_KEY is false"
        )
    _refuse_weak_token(settings.service_token)
    return Authenticator(keys, settings.service_token, token_needs_certified_peer=mutual)


def _keys_of(settings: CommonSettings) -> KeySource:
    try:
        return key_source(settings.api_keys, settings.api_keys_reload_s)
    except (ApiKeyError, OSError) as exc:
        raise SettingsError(str(exc)) from None
