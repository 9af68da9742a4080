"""One exception hierarchy for all services, mapped to gRPC status codes in one place.

Raise these from core code; the server interceptor turns them into statuses with their message. Anything
else that escapes a handler becomes INTERNAL with a generic message (the detail goes to the log).
"""

from __future__ import annotations

import grpc

from ragplane.runtime.context import request_id_var
from ragplane.runtime.logs import get_logger

log = get_logger(__name__)


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


class Aborted(RagplaneError):
    """A concurrent change got in the way (a conflict, a lost race); the same call may succeed again."""

    code = grpc.StatusCode.ABORTED
    retriable = True


class Internal(RagplaneError):
    code = grpc.StatusCode.INTERNAL


RETRIABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})


# How a downstream call's status reaches our caller. Codes that keep their meaning across hops map to
# themselves. INVALID_ARGUMENT and OUT_OF_RANGE are the caller's fault only if the caller sent that value,
# which the caller knows best: FAILED_PRECONDITION naming the service. UNAUTHENTICATED downstream means this
# service's own credentials were refused, which the caller cannot fix: INTERNAL, like every other code.
_DOWNSTREAM: dict[grpc.StatusCode, type[RagplaneError]] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.INVALID_ARGUMENT: FailedPrecondition,
    grpc.StatusCode.OUT_OF_RANGE: FailedPrecondition,
}


def from_rpc_error(exc: grpc.RpcError, service: str) -> RagplaneError:
    """Translate a downstream call's failure into a domain error that keeps its meaning (see ``_DOWNSTREAM``).

    The downstream message is kept where the code keeps its meaning (it was written for callers). Anything that
    becomes INTERNAL carries only the code and the request id: its details (a peer's exception text, a host)
    go to the log.
    """
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    error_type = _DOWNSTREAM.get(code)
    if error_type is not None:
        return error_type(f"{service}: {details}")
    log.warning("downstream call failed", peer=service, code=code.name, details=details)
    return Internal(f"{service}: failed with {code.name} (request_id={request_id_var.get()})")
