"""The retry policy of runtime channels against a real gRPC server that fails its first calls."""

from __future__ import annotations

import grpc
import pytest

from ragplane.runtime.clients import service_channel

pytestmark = pytest.mark.integration

SEARCH = "/ragplane.v1.RetrieveService/Search"
FEEDBACK = "/ragplane.v1.RagService/Feedback"


class FailingFirst:
    """Answers each method with ``code`` for its first ``failures`` calls, then echoes the request."""

    def __init__(self, failures: int, code: grpc.StatusCode) -> None:
        self.failures, self.code = failures, code
        self.calls: dict[str, int] = {}

    def handler(self, method: str) -> grpc.RpcMethodHandler:
        async def answer(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self.calls[method] = self.calls.get(method, 0) + 1
            if self.calls[method] <= self.failures:
                await context.abort(self.code, f"failure {self.calls[method]}")
            return request

        return grpc.unary_unary_rpc_method_handler(answer)


@pytest.fixture
async def server_for():
    servers: list[grpc.aio.Server] = []

    async def start(behaviour: FailingFirst) -> str:
        server = grpc.aio.server()
        for path in (SEARCH, FEEDBACK):
            _, service, method = path.split("/")
            handler = grpc.method_handlers_generic_handler(service, {method: behaviour.handler(path)})
            server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(0)


async def call(address: str, method: str) -> bytes:
    async with service_channel(address, "token", default_timeout_s=10.0) as channel:
        return await channel.unary_unary(method)(b"payload")


async def test_unavailable_on_an_idempotent_call_is_retried_and_the_caller_sees_success(server_for):
    behaviour = FailingFirst(2, grpc.StatusCode.UNAVAILABLE)
    address = await server_for(behaviour)
    assert await call(address, SEARCH) == b"payload"
    assert behaviour.calls[SEARCH] == 3


@pytest.mark.parametrize(
    ("failures", "code", "method", "calls"),
    [
        (1, grpc.StatusCode.FAILED_PRECONDITION, SEARCH, 1),
        (1, grpc.StatusCode.UNAVAILABLE, FEEDBACK, 1),
        (10, grpc.StatusCode.UNAVAILABLE, SEARCH, 4),
    ],
    ids=["a non-retriable code", "a non-idempotent method", "attempts spent"],
)
async def test_the_failure_reaches_the_caller_when_no_retry_is_allowed(server_for, failures, code, method, calls):
    behaviour = FailingFirst(failures, code)
    address = await server_for(behaviour)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call(address, method)
    assert info.value.code() == code
    assert behaviour.calls[method] == calls
