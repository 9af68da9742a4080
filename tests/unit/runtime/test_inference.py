"""The v2 inference client: one error mapping, a deadline on every call, retries only for a down or busy server."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from ragplane.runtime import errors
from ragplane.runtime.inference import InferenceClient, Unimplemented, map_error, retriable
from ragplane.runtime.retry import Backoff

pytestmark = pytest.mark.unit

INPUTS = {"text_input": np.array([[b"hi"]], dtype=np.object_)}


def test_the_status_name_and_the_subject_are_in_the_message():
    error = map_error(InferenceServerException("connection refused", status="StatusCode.UNAVAILABLE"), "judge 'j'")
    assert type(error) is errors.Unavailable
    assert error.message == "judge 'j': UNAVAILABLE connection refused"


def test_a_server_without_the_call_is_unimplemented_and_a_failed_precondition():
    error = map_error(InferenceServerException("no stream", status="StatusCode.UNIMPLEMENTED"), "m")
    assert isinstance(error, Unimplemented) and isinstance(error, errors.FailedPrecondition)


def test_only_a_down_or_busy_server_is_retriable():
    assert retriable(errors.Unavailable("x")) and retriable(errors.ResourceExhausted("x"))
    assert not retriable(errors.DeadlineExceeded("x")) and not retriable(errors.FailedPrecondition("x"))


class FakeServer:
    """Stands in for tritonclient's aio client: fails ``failures`` calls with ``status``, then answers."""

    def __init__(self, failures: int, status: str) -> None:
        self.failures, self.status, self.timeouts = failures, status, []

    async def infer(self, model, inputs, outputs=None, request_id="", client_timeout=None):
        self.timeouts.append(client_timeout)
        if len(self.timeouts) <= self.failures:
            raise InferenceServerException("busy", status=self.status)
        return "result"


def client_with(server: FakeServer, attempts: int) -> InferenceClient:
    client = InferenceClient("127.0.0.1:1", "m", timeout_s=3.0, retry=Backoff(0.001, 0.002, attempts=attempts))
    client._client = server
    return client


async def test_a_busy_server_is_retried_and_every_try_has_a_deadline():
    server = FakeServer(2, "StatusCode.RESOURCE_EXHAUSTED")
    assert await client_with(server, 3).infer(INPUTS) == "result"
    assert server.timeouts == [3.0, 3.0, 3.0]


async def test_a_rejected_request_is_not_retried():
    server = FakeServer(1, "StatusCode.INVALID_ARGUMENT")
    with pytest.raises(errors.FailedPrecondition, match="model server \\(m\\): INVALID_ARGUMENT busy"):
        await client_with(server, 3).infer(INPUTS)
    assert len(server.timeouts) == 1


async def test_a_call_with_no_time_left_is_not_sent():
    server = FakeServer(0, "")
    with pytest.raises(errors.DeadlineExceeded, match="no time left"):
        await client_with(server, 1).infer(INPUTS, timeout_s=0.0)
    assert server.timeouts == []


def test_grpc_errors_map_like_server_errors():
    class Refused(grpc.RpcError):
        def code(self):
            return grpc.StatusCode.DEADLINE_EXCEEDED

        def details(self):
            return "too slow"

    assert type(map_error(Refused(), "m")) is errors.DeadlineExceeded
