"""What routes need from a request: the upstream stubs, the caller's credentials as gRPC metadata, settings.

A route calls a service like this, and lets gRPC errors propagate (``errors.install`` maps them)::

    @router.post("/v1/things")
    async def things(body: Body, request: Request, metadata: CallMetadata):
        request.state.grpc_fields = {"query": "query"}  # proto field -> HTTP field, for 400s naming it
        reply = await upstreams(request).rag.Something(
            pb, metadata=metadata, timeout=settings_of(request).call_deadline_s
        )
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from ragplane_gateway.config import Settings
from ragplane_gateway.errors import ApiError
from ragplane_gateway.upstream import Upstreams

Metadata = tuple[tuple[str, str], ...]

# Declares the bearer scheme in the OpenAPI document; the gateway answers a missing key itself (401).
bearer = HTTPBearer(auto_error=False, description="a ragplane API key (the same keys as the gRPC API)")


def upstreams(request: Request) -> Upstreams:
    return request.app.state.upstreams


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def api_key(request: Request) -> str:
    """The caller's key from ``Authorization: Bearer <key>``.

    Raises:
        ApiError: 401 when the header is missing or not a bearer credential (the key itself is checked by the
            service the request goes to).
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "missing API key: send 'Authorization: Bearer <key>'",
            code="unauthenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key.strip()


def grpc_metadata(request: Request) -> Metadata:
    """gRPC metadata of a call made for this request: the caller's key and the request id (trace context is added
    by the channel's tracing interceptor)."""
    return (
        ("authorization", f"Bearer {api_key(request)}"),
        ("x-request-id", request.state.request_id),
    )


# A route parameter ``metadata: CallMetadata`` requires the key (401 without) and gives the call metadata.
CallMetadata = Annotated[Metadata, Depends(grpc_metadata)]
