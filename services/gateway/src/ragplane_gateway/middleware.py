"""The gateway's one ASGI middleware: request id, trace context, body-size limits, metrics, access log.

Pure ASGI (no per-request task or body copy), so it adds microseconds, not milliseconds, to each request:
1. the caller's ``X-Request-Id`` is kept when it is 1-64 letters, digits or dashes, otherwise a new id is made;
   it is set in the request context (the runtime's gRPC clients send it on as ``x-request-id``), in
   ``request.state.request_id``, and returned as the ``X-Request-Id`` response header;
2. W3C trace context (``traceparent``) is extracted and a server span wraps the request, so the gRPC client
   spans the runtime's channels make are its children and the trace continues into the services;
3. a body longer than the route's limit is refused with 413, from ``Content-Length`` before anything is read,
   and while reading a body sent without one;
4. latency by route template, method and status, and an access log line.
"""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from ragplane.runtime.context import accepted_request_id, request_id_var
from ragplane.runtime.logs import get_logger
from ragplane_gateway.errors import ApiError, error_body
from ragplane_gateway.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REJECTED

log = get_logger("ragplane.gateway.access")
_tracer = trace.get_tracer("ragplane.gateway")

Scope = dict[str, Any]


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"request body is larger than the limit of {limit} bytes",
        code="request_too_large",
        error_type="invalid_request_error",
    )


class EdgeMiddleware:
    """See the module docstring.

    Args:
        app: the ASGI application.
        max_body_bytes: limit of every body but uploads.
        max_upload_bytes: limit of ``POST`` bodies under ``upload_prefix``.
        upload_prefix: the path of uploads.
    """

    def __init__(self, app: Any, max_body_bytes: int, max_upload_bytes: int, upload_prefix: str) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.upload_prefix = upload_prefix

    def _limit(self, scope: Scope) -> int:
        if scope["method"] == "POST" and scope["path"].rstrip("/") == self.upload_prefix:
            return self.max_upload_bytes
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
        request_id = accepted_request_id(headers.get("x-request-id"))
        request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started_response = False
        rid_header = (b"x-request-id", request_id.encode())
        limit = self._limit(scope)
        overflow: ApiError | None = None

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status, started_response
            if overflow is not None:
                return  # the app's answer to a body it could not read; the 413 below replaces it
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        async def send_error(error: ApiError) -> None:
            nonlocal status
            status = error.status
            body = json.dumps(error_body(error.message, error.error_type, error.param, error.code)).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": error.status, "headers": [*headers, rid_header]})
            await send({"type": "http.response.body", "body": body})

        declared = headers.get("content-length")
        HTTP_IN_FLIGHT.inc()
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                HTTP_REJECTED.labels("body_too_large").inc()
                await send_error(_too_large(limit))
                return
            received = 0

            async def bounded_receive() -> dict[str, Any]:
                nonlocal received, overflow
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit and overflow is None:
                        # Frameworks turn errors raised while reading a body into their own 400; the flag makes
                        # the answer a 413 whatever the app does with the exception.
                        HTTP_REJECTED.labels("body_too_large").inc()
                        overflow = _too_large(limit)
                        raise overflow
                return message

            context = propagate.extract(headers)
            name = f"{scope['method']} {scope['path']}"
            with _tracer.start_as_current_span(name, context=context, kind=SpanKind.SERVER) as span:
                span.set_attribute("http.request.method", scope["method"])
                span.set_attribute("ragplane.request_id", request_id)
                try:
                    await self.app(scope, bounded_receive, send_with_id)
                except ApiError:
                    if overflow is None:
                        raise
                if overflow is not None and not started_response:
                    await send_error(overflow)
                span.set_attribute("http.response.status_code", status)
                # Named by the route template, not the path (which holds document ids).
                span.update_name(f"{scope['method']} {getattr(scope.get('route'), 'path', None) or 'unmatched'}")
        finally:
            HTTP_IN_FLIGHT.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            HTTP_LATENCY.labels(template, scope["method"], str(status)).observe(elapsed)
            log.info("http", method=scope["method"], route=template, status=status, latency_ms=round(elapsed * 1000, 2))
