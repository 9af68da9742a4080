"""Per-request context (tenant, request id) carried in contextvars through a request's tasks."""

from __future__ import annotations

import contextvars
import hashlib
import re
import uuid

tenant_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("ragplane_tenant", default=None)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("ragplane_request_id", default=None)
principal_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("ragplane_principal", default=None)

TENANT_HEADER = "x-ragplane-tenant"
PRINCIPAL_HEADER = "x-ragplane-principal"
REQUEST_ID_HEADER = "x-request-id"
# What a caller may choose as its request id (kept for tracing); anything else is replaced by a server id.
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


def current_tenant() -> str:
    """The authenticated tenant of the request being served.

    Raises:
        RuntimeError: when called outside an authenticated request (a programming error).
    """
    tenant = tenant_var.get()
    if tenant is None:
        raise RuntimeError("no tenant in context: called outside an authenticated request")
    return tenant


def current_request_id() -> str | None:
    return request_id_var.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(proposed: str | None) -> str:
    """The caller's ``x-request-id`` when it is 1-64 letters, digits or dashes, otherwise a new server id.

    Request ids reach logs, events and Redis keys, so a client must not pick delimiters, huge values or
    control characters for them.
    """
    if proposed and _REQUEST_ID.fullmatch(proposed):
        return proposed
    return new_request_id()


def hash_identity(value: str, salt: str = "ragplane") -> str:
    """Stable, non-reversible id for a user or key, for logs and events (never the raw value)."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:16]
