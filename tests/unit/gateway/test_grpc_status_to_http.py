"""The one table from gRPC status to HTTP status and OpenAI's error object."""

from __future__ import annotations

import grpc
import pytest
from ragplane_gateway.errors import from_grpc
from ragplane_gateway.routes.chat import ASK_FIELDS

pytestmark = pytest.mark.unit


def rpc_error(code: grpc.StatusCode, details: str, trailing=()) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), details)


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400, "invalid_request_error"),
        (grpc.StatusCode.UNAUTHENTICATED, 401, "authentication_error"),
        (grpc.StatusCode.PERMISSION_DENIED, 403, "permission_error"),
        (grpc.StatusCode.NOT_FOUND, 404, "not_found_error"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429, "rate_limit_error"),
        (grpc.StatusCode.UNAVAILABLE, 503, "service_unavailable_error"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504, "timeout_error"),
        (grpc.StatusCode.INTERNAL, 500, "api_error"),
        (grpc.StatusCode.UNKNOWN, 500, "api_error"),
    ],
)
def test_status_codes_map_to_http(code, status, kind):
    error = from_grpc(rpc_error(code, "something"))
    assert (error.status, error.error_type, error.code, error.message) == (status, kind, code.name.lower(), "something")


def test_invalid_argument_names_the_http_field_of_the_proto_field():
    fields = {"query": "messages", "options.top_k": "top_k", "filters": "filters"}
    assert (
        from_grpc(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "options.top_k: must be <= 200"), fields).param == "top_k"
    )
    assert (
        from_grpc(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "query: must not be empty"), fields).param == "messages"
    )
    nested = from_grpc(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "filters[2].field: must not be empty"), fields)
    assert nested.param == "filters[2].field"
    assert from_grpc(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "no field named here"), fields).param is None


def test_resource_exhausted_sends_retry_after_in_whole_seconds_rounded_up():
    error = from_grpc(rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "over", [("retry-after", "2.250")]))
    assert error.headers == {"Retry-After": "3"}
    assert from_grpc(rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, "over")).headers == {"Retry-After": "1"}


def test_a_refused_history_names_the_chat_messages():
    error = from_grpc(rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "history: must be at most 20 turns"), ASK_FIELDS)
    assert (error.status, error.param) == (400, "messages")
