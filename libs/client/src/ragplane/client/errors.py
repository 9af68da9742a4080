"""One exception family for every failed call: ``ClientError`` carries the gRPC status, and a subclass per status
that callers commonly handle apart (``except NotFoundError``, ``except DeadlineExceededError``)."""

from __future__ import annotations

from typing import Any

import grpc


class ClientError(Exception):
    """A call to ragplane failed.

    Attributes:
        code: the gRPC status code.
        details: the server's message ("query: must not be empty").
        field: the request field the message names, for INVALID_ARGUMENT ("query"), else None.
        retry_after_s: when the server said how long to wait (RESOURCE_EXHAUSTED), else None.
        request_id: the request id the server gave the call, when it sent one.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        *,
        retry_after_s: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.retry_after_s = retry_after_s
        self.request_id = request_id
        self.field = _field_of(code, details)

    @property
    def retriable(self) -> bool:
        """Whether the same call may succeed later (the service was unavailable, busy or in a conflict)."""
        return self.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED)


class InvalidArgumentError(ClientError):
    """A request field is missing or wrong; ``field`` names it."""


class NotFoundError(ClientError):
    pass


class AuthenticationError(ClientError):
    """UNAUTHENTICATED: no API key, or one the server does not know."""


class PermissionDeniedError(ClientError):
    pass


class ResourceExhaustedError(ClientError):
    """A rate limit or size limit was hit; ``retry_after_s`` says when to try again if the server said."""


class DeadlineExceededError(ClientError):
    """The call's deadline passed before it finished."""


class UnavailableError(ClientError):
    """The service cannot be reached or is not ready (connection refused, TLS handshake failed, starting up)."""


class FailedPreconditionError(ClientError):
    pass


_BY_CODE: dict[grpc.StatusCode, type[ClientError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
}


def _field_of(code: grpc.StatusCode, details: str) -> str | None:
    # ragplane's services write INVALID_ARGUMENT messages as "<field>: <problem>".
    if code != grpc.StatusCode.INVALID_ARGUMENT or ": " not in details:
        return None
    name = details.split(": ", 1)[0]
    return name if name and " " not in name else None


def _trailer(metadata: Any, key: str) -> str | None:
    for item in metadata or ():
        name, value = item
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def from_rpc_error(exc: grpc.RpcError) -> ClientError:
    """The ``ClientError`` subclass for a failed call's status, with its trailing retry-after and request id."""
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if callable(getattr(exc, "details", None)) else str(exc)) or ""
    trailers = exc.trailing_metadata() if callable(getattr(exc, "trailing_metadata", None)) else None
    retry_after = _trailer(trailers, "retry-after")
    try:
        retry_after_s = float(retry_after) if retry_after is not None else None
    except ValueError:
        retry_after_s = None
    kind = _BY_CODE.get(code, ClientError)
    return kind(code, details, retry_after_s=retry_after_s, request_id=_trailer(trailers, "x-request-id"))
