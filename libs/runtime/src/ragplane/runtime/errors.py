"""One exception hierarchy for all services, mapped to gRPC status codes in one place.

Raise these from core code; the server interceptor turns them into statuses with their message. Anything
else that escapes a handler becomes INTERNAL with a generic message (the detail goes to the log).
"""

from __future__ import annotations

import grpc


class RagplaneError(Exception):
    """Base of all domain errors. ``code`` is the gRPC status the interceptor sends."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    retriable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(RagplaneError):
    """A request field is missing or wrong; the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class NotFound(RagplaneError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(RagplaneError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(RagplaneError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(RagplaneError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(RagplaneError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(RagplaneError):
    """A quota or size limit was hit. ``retry_after_s`` is sent as ``retry-after`` trailing metadata."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(RagplaneError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unavailable(RagplaneError):
    """A dependency is down or not ready; callers may retry."""

    code = grpc.StatusCode.UNAVAILABLE
    retriable = True


class Cancelled(RagplaneError):
    code = grpc.StatusCode.CANCELLED


class Internal(RagplaneError):
    code = grpc.StatusCode.INTERNAL


RETRIABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})


def from_rpc_error(exc: grpc.RpcError, service: str) -> RagplaneError:
    """Translate a downstream call's failure into a domain error that keeps its meaning.

    INVALID_ARGUMENT from a downstream service is the caller's fault only if the caller sent that value,
    which the caller knows best; here it becomes FAILED_PRECONDITION naming the service, except for codes
    that keep their meaning across hops (deadline, unavailable, resource exhausted, unauthenticated).
    """
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    message = f"{service}: {details}"
    mapping: dict[grpc.StatusCode, type[RagplaneError]] = {
        grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
        grpc.StatusCode.UNAVAILABLE: Unavailable,
        grpc.StatusCode.NOT_FOUND: NotFound,
        grpc.StatusCode.CANCELLED: Cancelled,
        grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    }
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhausted(message)
    error_type = mapping.get(code)
    if error_type is not None:
        return error_type(message)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return FailedPrecondition(message)
    return Internal(message)
