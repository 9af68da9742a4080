"""The one server interceptor: request context, authentication, deadlines, error mapping, metrics, logs.

Every service installs it, so every RPC gets the same treatment:
1. health checks and reflection pass through without credentials;
2. the caller is authenticated (UNAUTHENTICATED otherwise; PERMISSION_DENIED for the service token from a caller
   without an internal client certificate under mutual TLS) and the tenant set in the request context;
3. until the service has warmed up (``mark_ready``), every call is UNAVAILABLE "<service>: warming up", so
   servicers never see collaborators that are not started yet;
4. a call without a deadline gets the default one, and the handler is cut off when it expires;
5. domain errors (ragplane.runtime.errors) become their status codes; anything else is INTERNAL with the
   request id, and the traceback goes to the log;
6. latency, in-flight count and an access log line are recorded.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from ragplane.runtime import errors
from ragplane.runtime.auth import Authenticator
from ragplane.runtime.context import (
    REQUEST_ID_HEADER,
    accepted_request_id,
    principal_var,
    request_id_var,
    tenant_var,
)
from ragplane.runtime.logs import get_logger
from ragplane.runtime.telemetry import RPC_IN_FLIGHT, RPC_LATENCY
from ragplane.runtime.tls import peer_certified

log = get_logger("ragplane.rpc")

PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

# Absolute deadline (event-loop time) of the request being served; outbound calls inherit it.
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("ragplane_deadline", default=None)


def remaining_time(default: float | None = None) -> float | None:
    """Seconds left before the current request's deadline, or ``default`` outside a request."""
    deadline = deadline_var.get()
    if deadline is None:
        return default
    return max(0.0, deadline - asyncio.get_running_loop().time())


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every RPC of one service except health checks and reflection (see the module docstring)."""

    def __init__(self, service: str, authenticator: Authenticator, default_deadline_s: float) -> None:
        self._service = service
        self._auth = authenticator
        self._default_deadline_s = default_deadline_s
        self._ready = False

    def mark_ready(self) -> None:
        """Serve RPCs from now on: the service's ``start()`` has finished."""
        self._ready = True

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(handler.stream_stream, method),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _begin(self, context: grpc.aio.ServicerContext) -> tuple[float, str]:
        """Authenticate, refuse calls during warm-up and set the request context.

        Raises:
            Unauthenticated: no or unknown credentials.
            Unavailable: the service has not finished ``start()``.
        """
        metadata = {key: value for key, value in (context.invocation_metadata() or ()) if isinstance(value, str)}
        request_id = accepted_request_id(metadata.get(REQUEST_ID_HEADER))
        request_id_var.set(request_id)
        certified = self._auth.token_needs_certified_peer and peer_certified(context.auth_context())
        identity = self._auth.authenticate(metadata, certified_peer=certified)
        # After authentication, so an unknown caller learns nothing about the service's state.
        if not self._ready:
            raise errors.Unavailable(f"{self._service}: warming up")
        tenant_var.set(identity.tenant)
        principal_var.set(identity.principal)
        loop = asyncio.get_running_loop()
        remaining = context.time_remaining()
        budget = self._default_deadline_s if remaining is None else min(remaining, 24 * 3600.0)
        deadline_var.set(loop.time() + budget)
        return budget, request_id

    async def _fail(self, context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
        if isinstance(exc, errors.RagplaneError):
            if isinstance(exc, errors.ResourceExhausted) and exc.retry_after_s is not None:
                context.set_trailing_metadata((("retry-after", f"{exc.retry_after_s:.3f}"),))
            await context.abort(exc.code, exc.message)
        if isinstance(exc, asyncio.TimeoutError):
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"{method}: deadline exceeded")
        if isinstance(exc, NotImplementedError):
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this server")
        log.error("unhandled error", rpc=method, exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request_id={request_id_var.get()})")

    def _record(self, method: str, code: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        RPC_LATENCY.labels(self._service, method.rsplit("/", 1)[-1], code).observe(elapsed)
        log.info("rpc", rpc=method, code=code, latency_ms=round(elapsed * 1000, 2))

    def _wrap_unary(self, behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = "OK"
            RPC_IN_FLIGHT.labels(self._service).inc()
            try:
                budget, _ = self._begin(context)
                return await asyncio.wait_for(behavior(request, context), timeout=budget)
            except grpc.aio.AbortError:
                code = _code_name(context)
                raise
            except BaseException as exc:  # noqa: BLE001 - mapped to a status below
                if isinstance(exc, asyncio.CancelledError):
                    code = "CANCELLED"
                    raise
                code = _code_of(exc)
                await self._fail(context, exc, method)
            finally:
                RPC_IN_FLIGHT.labels(self._service).dec()
                self._record(method, code, started)

        return wrapper

    def _wrap_stream(
        self, behavior: Callable[..., AsyncIterator[Any]], method: str
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code = "OK"
            RPC_IN_FLIGHT.labels(self._service).inc()
            try:
                budget, _ = self._begin(context)
                async with asyncio.timeout(budget):
                    async for item in behavior(request, context):
                        yield item
            except grpc.aio.AbortError:
                code = _code_name(context)
                raise
            except BaseException as exc:  # noqa: BLE001 - mapped to a status below
                if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
                    code = "CANCELLED"
                    raise
                code = _code_of(exc)
                await self._fail(context, exc, method)
            finally:
                RPC_IN_FLIGHT.labels(self._service).dec()
                self._record(method, code, started)

        return wrapper


def _code_of(exc: BaseException) -> str:
    if isinstance(exc, errors.RagplaneError):
        return exc.code.name
    if isinstance(exc, asyncio.TimeoutError):
        return "DEADLINE_EXCEEDED"
    if isinstance(exc, NotImplementedError):
        return "UNIMPLEMENTED"
    return "INTERNAL"


def _code_name(context: grpc.aio.ServicerContext) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "ABORTED" if code is None else str(code)
