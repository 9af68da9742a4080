"""Credentials in gRPC metadata -> tenant.

End users send ``authorization: Bearer <api key>`` (or ``x-api-key``); the key maps to a tenant through
RAGPLANE_API_KEYS. Services calling each other send the service token as the bearer credential plus the
caller's tenant in ``x-ragplane-tenant``; that header is trusted only together with the service token.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ragplane.runtime.context import PRINCIPAL_HEADER, TENANT_HEADER, hash_identity
from ragplane.runtime.errors import Unauthenticated

_TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


class ApiKeyError(ValueError):
    """RAGPLANE_API_KEYS is malformed."""


def validate_tenant(tenant: str) -> str:
    if not _TENANT_RE.match(tenant):
        raise ValueError(f"tenant must match {_TENANT_RE.pattern}, but got {tenant!r}")
    return tenant


def parse_api_keys(spec: str) -> dict[str, str]:
    """Parse ``key=tenant,key2=tenant2`` or a file with one ``key=tenant`` per line ('#' comments).

    Raises:
        ApiKeyError: naming the bad entry.
    """
    text = spec
    if "=" not in spec and spec.strip():
        # No inline entry: the value names a file (a mounted secret, say).
        if not os.path.isfile(spec):
            raise ApiKeyError(f"RAGPLANE_API_KEYS: {spec!r} is neither key=tenant pairs nor an existing file")
        with open(spec, encoding="utf-8") as handle:
            text = handle.read()
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


@dataclass(frozen=True)
class Identity:
    tenant: str
    # Hashed key or the forwarded principal; never a raw credential.
    principal: str
    internal: bool


class Authenticator:
    """Resolves call metadata to an Identity or raises Unauthenticated."""

    def __init__(self, api_keys: Mapping[str, str], service_token: str) -> None:
        self._api_keys = dict(api_keys)
        self._service_token = service_token

    @staticmethod
    def _credential(metadata: Mapping[str, str]) -> str | None:
        auth = metadata.get("authorization")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthenticated("authorization metadata must be 'Bearer <key>'")
            return value.strip()
        return metadata.get("x-api-key")

    def authenticate(self, metadata: Mapping[str, str]) -> Identity:
        credential = self._credential(metadata)
        if not credential:
            raise Unauthenticated("missing credentials: send 'authorization: Bearer <api key>' metadata")
        if self._service_token and hmac.compare_digest(credential, self._service_token):
            tenant = metadata.get(TENANT_HEADER)
            if not tenant:
                raise Unauthenticated(f"service call without {TENANT_HEADER} metadata")
            try:
                validate_tenant(tenant)
            except ValueError as exc:
                raise Unauthenticated(str(exc)) from None
            return Identity(tenant=tenant, principal=metadata.get(PRINCIPAL_HEADER, "service"), internal=True)
        for key, tenant in self._api_keys.items():
            if hmac.compare_digest(credential, key):
                return Identity(tenant=tenant, principal=hash_identity(key), internal=False)
        raise Unauthenticated("unknown API key")
