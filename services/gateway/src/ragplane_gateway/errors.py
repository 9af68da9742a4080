"""HTTP errors in OpenAI's shape, and the one table from gRPC status codes to HTTP status codes.

Every error body is ``{"error": {"message", "type", "param", "code"}}`` (what the ``openai`` client parses):
``param`` names the request field at fault where one is known, ``code`` is the gRPC status name (or a gateway
code such as ``request_too_large``). A gRPC error of the orchestrator or ingest becomes its HTTP status here,
in one exception handler, so routes just await their calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragplane.runtime.logs import get_logger

log = get_logger("ragplane.gateway")

# gRPC status -> (HTTP status, OpenAI error type).
STATUS_MAP: dict[grpc.StatusCode, tuple[int, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request_error"),
    grpc.StatusCode.OUT_OF_RANGE: (400, "invalid_request_error"),
    grpc.StatusCode.FAILED_PRECONDITION: (400, "invalid_request_error"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "authentication_error"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "permission_error"),
    grpc.StatusCode.NOT_FOUND: (404, "not_found_error"),
    grpc.StatusCode.ALREADY_EXISTS: (409, "conflict_error"),
    grpc.StatusCode.ABORTED: (409, "conflict_error"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "rate_limit_error"),
    grpc.StatusCode.CANCELLED: (499, "cancelled"),
    grpc.StatusCode.UNIMPLEMENTED: (501, "not_implemented_error"),
    grpc.StatusCode.UNAVAILABLE: (503, "service_unavailable_error"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout_error"),
}
INTERNAL = (500, "api_error")
# "field: problem" (ragplane.runtime.errors.InvalidArgument) -> field, e.g. "options.top_k", "filters[0].field".
_FIELD = re.compile(r"^([A-Za-z_][\w.]*(?:\[\d+\][\w.]*)*): ")


class ApiError(Exception):
    """An error the gateway answers itself (before or instead of a gRPC call)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type or _type_for(status)
        self.headers = dict(headers or {})


def _type_for(status: int) -> str:
    for http, kind in STATUS_MAP.values():
        if http == status:
            return kind
    return {413: "invalid_request_error", 422: "invalid_request_error"}.get(status, INTERNAL[1])


def error_body(message: str, error_type: str, param: str | None, code: str | None) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(error.message, error.error_type, error.param, error.code),
        status_code=error.status,
        headers=error.headers,
    )


def from_grpc(exc: grpc.aio.AioRpcError, fields: Mapping[str, str] | None = None) -> ApiError:
    """The HTTP error of a failed gRPC call.

    Args:
        exc: the failed call.
        fields: the request's proto field names -> its HTTP field names (``{"query": "messages"}``), so that
            ``param`` names what the HTTP caller sent.

    Returns:
        An ApiError with the mapped status, the service's message, ``param`` for INVALID_ARGUMENT and
        ``Retry-After`` (whole seconds, rounded up) for RESOURCE_EXHAUSTED when the service sent ``retry-after``.
    """
    code = exc.code()
    status, kind = STATUS_MAP.get(code, INTERNAL)
    message = exc.details() or code.name
    param = None
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        match = _FIELD.match(message)
        if match:
            param = _http_field(match.group(1), fields or {})
    headers: dict[str, str] = {}
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        headers["Retry-After"] = _retry_after(exc) or "1"
    return ApiError(status, message, param=param, code=code.name.lower(), error_type=kind, headers=headers)


def _http_field(proto_field: str, fields: Mapping[str, str]) -> str:
    """The HTTP name of a proto field path: the longest mapped prefix is replaced (``options.top_k`` -> ``top_k``)."""
    for prefix in sorted(fields, key=len, reverse=True):
        if proto_field == prefix or proto_field.startswith((prefix + ".", prefix + "[")):
            return fields[prefix] + proto_field[len(prefix) :]
    return proto_field


def _retry_after(exc: grpc.aio.AioRpcError) -> str | None:
    for key, value in exc.trailing_metadata() or ():
        if key == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return str(max(1, -int(-seconds // 1)))
    return None


def _validation_param(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header", "form")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or ".".join(str(part) for part in loc)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` in OpenAI's shape: gateway errors, gRPC errors, validation, HTTP."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(grpc.aio.AioRpcError)
    async def _grpc_error(request: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        error = from_grpc(exc, getattr(request.state, "grpc_fields", None))
        if error.status >= 500:
            log.warning("upstream call failed", path=request.url.path, code=exc.code().name, details=exc.details())
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = _validation_param(tuple(first.get("loc", ())))
        message = f"{param}: {first.get('msg', 'invalid')}" if param else str(first.get("msg"))
        return error_response(ApiError(400, message, param=param or None, code="invalid_argument"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        return error_response(
            ApiError(exc.status_code, str(exc.detail), code=code, headers=getattr(exc, "headers", None))
        )
