"""The Open Inference Protocol (v2, KServe / Triton gRPC) client every model-server caller uses.

One error mapping (``map_error``) turns transport, gRPC and server failures into the runtime's exceptions, so a
model server that is down reads as UNAVAILABLE, a busy one as RESOURCE_EXHAUSTED and a rejected request as
FAILED_PRECONDITION whichever service called it. Every call has a deadline: the one given, else what is left
of the current request's deadline, else the client's default.

``tritonclient.grpc`` and ``kserve`` cannot be imported into one process (duplicate protobuf symbols) and the
model server imports this runtime, so tritonclient is imported only when a client is started.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import grpc
import numpy as np

from ragplane.runtime import errors
from ragplane.runtime.clients import channel_options
from ragplane.runtime.interceptors import remaining_time
from ragplane.runtime.retry import Backoff, retry_async

# A call gives up this much before its caller's deadline so that the caller can still answer.
DEADLINE_MARGIN_S = 0.02
# tritonclient's own limit (INT32_MAX): tensors of a batch can be large.
MAX_MESSAGE_BYTES = 2**31 - 1
# Per-call round_robin over every address of a dns:/// name, keepalive, and DNS refreshed when a server closes a
# connection for its age (the runtime's channel options; they replace tritonclient's defaults).
CHANNEL_ARGS = channel_options(max_message_bytes=MAX_MESSAGE_BYTES)
# Numpy dtypes of the v2 datatypes callers send.
_DATATYPES = {
    np.dtype(np.object_): "BYTES",
    np.dtype(np.int32): "INT32",
    np.dtype(np.float32): "FP32",
    np.dtype(np.bool_): "BOOL",
    np.dtype(np.uint64): "UINT64",
}


class Unimplemented(errors.FailedPrecondition):
    """The server does not implement the call (a plain v2 server has no ModelStreamInfer)."""


def status_name(exc: BaseException) -> str:
    """The gRPC status name of a failure ("UNAVAILABLE"), or "" when it carries none (errors on a stream)."""
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return exc.code().name
    status = exc.status() if hasattr(exc, "status") and callable(exc.status) else None
    return (status or "").replace("StatusCode.", "")


def _details(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "details"):
        return exc.details() or ""
    return exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)


def map_error(exc: BaseException, subject: str) -> errors.RagplaneError:
    """A model-server failure as a runtime error that keeps its meaning for the caller.

    Args:
        exc: a ``grpc.RpcError`` or tritonclient's ``InferenceServerException``.
        subject: what failed, starting the message ("model server (ensemble)").
    """
    code = status_name(exc)
    message = f"{subject}: {code + ' ' if code else ''}{_details(exc)}"
    lowered = message.lower()
    if code == "DEADLINE_EXCEEDED":
        return errors.DeadlineExceeded(message)
    if code == "UNAVAILABLE" or (not code and "not ready" in lowered):
        return errors.Unavailable(message)
    if code == "RESOURCE_EXHAUSTED" or (not code and "retry later" in lowered):
        return errors.ResourceExhausted(message, retry_after_s=1.0)
    if code == "CANCELLED":
        return errors.Cancelled(message)
    if code == "UNIMPLEMENTED":
        return Unimplemented(message)
    if code in ("NOT_FOUND", "INVALID_ARGUMENT", ""):
        # Errors on a stream carry no status code: the server rejected this request (unknown model, bad input).
        return errors.FailedPrecondition(message)
    return errors.Internal(message)


def retriable(exc: BaseException) -> bool:
    """Whether another try of the same call may succeed: the server was down or busy."""
    return isinstance(exc, (errors.Unavailable, errors.ResourceExhausted))


def tensor(name: str, array: np.ndarray) -> Any:
    """A v2 input tensor holding ``array`` (BYTES for object arrays of ``bytes``)."""
    from tritonclient.grpc import InferInput

    value = InferInput(name, list(array.shape), _DATATYPES[array.dtype])
    value.set_data_from_numpy(array)
    return value


def _inputs(inputs: Mapping[str, np.ndarray]) -> list[Any]:
    return [tensor(name, array) for name, array in inputs.items()]


def _outputs(names: Sequence[str]) -> list[Any]:
    from tritonclient.grpc import InferRequestedOutput

    return [InferRequestedOutput(name) for name in names]


class InferenceClient:
    """An asyncio client to one model on a v2 gRPC server.

    Args:
        address: host:port of the server's gRPC endpoint, or dns:///name:port to balance over its replicas.
        model: the v2 model name.
        subject: names the server in error messages (default "model server (<model>)").
        timeout_s: the deadline of a call made outside a request, when the call gives none.
        retry: tries for a server that is down or busy (default: one try).
    """

    def __init__(
        self, address: str, model: str, *, subject: str = "", timeout_s: float = 30.0, retry: Backoff | None = None
    ) -> None:
        self.address = address
        self.model = model
        self.subject = subject or f"model server ({model})"
        self.timeout_s = timeout_s
        self._retry = retry or Backoff(attempts=1)
        self._client: Any = None

    async def start(self) -> None:
        """Open the channel (inside the running event loop)."""
        if self._client is None:
            from tritonclient.grpc.aio import InferenceServerClient

            self._client = InferenceServerClient(self.address, channel_args=CHANNEL_ARGS)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _timeout(self, timeout_s: float | None) -> float:
        """The call's deadline in seconds; a call with no time left fails before it is sent."""
        if timeout_s is None:
            left = remaining_time()
            timeout_s = self.timeout_s if left is None else left - DEADLINE_MARGIN_S
        if timeout_s <= 0:
            raise errors.DeadlineExceeded(f"{self.subject}: no time left for the call")
        return timeout_s

    async def is_ready(self, timeout_s: float = 2.0) -> bool:
        """Whether the server reports the model ready (False when it cannot be reached)."""
        await self.start()
        try:
            return bool(await self._client.is_model_ready(self.model, client_timeout=timeout_s))
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False

    async def infer(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] = (), *, timeout_s: float | None = None
    ) -> Any:
        """One ModelInfer call, retried under the client's policy while the server is down or busy.

        Args:
            inputs: input tensors by name.
            outputs: the outputs to return (all when empty).
            timeout_s: the deadline of each try.

        Returns:
            tritonclient's ``InferResult``.

        Raises:
            RagplaneError: the mapped failure (``map_error``).
        """
        await self.start()
        tensors, requested = _inputs(inputs), _outputs(outputs) or None

        async def once() -> Any:
            try:
                return await self._client.infer(
                    self.model,
                    tensors,
                    outputs=requested,
                    request_id=uuid.uuid4().hex,
                    client_timeout=self._timeout(timeout_s),
                )
            except errors.RagplaneError:
                raise
            except Exception as exc:  # noqa: BLE001 - tritonclient raises InferenceServerException or RpcError
                raise map_error(exc, self.subject) from None

        return await retry_async(once, self._retry, retriable=retriable, what=self.subject)

    async def stream(self, inputs: Mapping[str, np.ndarray], *, timeout_s: float | None = None) -> AsyncIterator[Any]:
        """Responses of one decoupled ModelStreamInfer request, as they arrive.

        Raises:
            Unimplemented: the server has no ModelStreamInfer.
            RagplaneError: the mapped failure.
        """
        await self.start()
        request = {"model_name": self.model, "inputs": _inputs(inputs), "request_id": uuid.uuid4().hex}

        async def requests():
            yield request

        responses = self._client.stream_infer(requests(), stream_timeout=self._timeout(timeout_s))
        try:
            async for result, error in responses:
                if error is not None:
                    raise map_error(error, self.subject)
                yield result
        except errors.RagplaneError:
            raise
        except Exception as exc:  # noqa: BLE001 - tritonclient raises InferenceServerException or RpcError
            raise map_error(exc, self.subject) from None
        finally:
            # Closing the stream early (the caller went away) cancels the generation on the server.
            with contextlib.suppress(Exception):
                responses.cancel()


class BlockingInferenceClient:
    """``InferenceClient`` for threads without an event loop (tritonclient's blocking gRPC client).

    Args:
        address: host:port of the server's gRPC endpoint, or dns:///name:port to balance over its replicas.
        model: the v2 model name.
        subject: names the server in error messages.
        timeout_s: the deadline of each call.
    """

    def __init__(self, address: str, model: str, *, subject: str = "", timeout_s: float = 30.0) -> None:
        self.address = address
        self.model = model
        self.subject = subject or f"model server ({model})"
        self.timeout_s = timeout_s
        self._client: Any = None

    def start(self) -> None:
        if self._client is None:
            import tritonclient.grpc

            self._client = tritonclient.grpc.InferenceServerClient(url=self.address, channel_args=CHANNEL_ARGS)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def ready(self) -> None:
        """Return when the server is live and the model ready.

        Raises:
            Unavailable: the server cannot be reached or the model is not ready.
        """
        self.start()
        try:
            live = self._client.is_server_live(client_timeout=self.timeout_s)
            if live and self._client.is_model_ready(self.model, client_timeout=self.timeout_s):
                return
        except Exception as exc:  # noqa: BLE001 - tritonclient raises InferenceServerException or RpcError
            raise errors.Unavailable(f"{self.subject}: {_details(exc)}") from None
        raise errors.Unavailable(f"{self.subject}: model {self.model!r} not ready")

    def infer(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] = ()) -> Any:
        """One ModelInfer call (see ``InferenceClient.infer``); not retried."""
        self.start()
        try:
            return self._client.infer(
                self.model,
                _inputs(inputs),
                outputs=_outputs(outputs) or None,
                request_id=uuid.uuid4().hex,
                client_timeout=self.timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - tritonclient raises InferenceServerException or RpcError
            raise map_error(exc, self.subject) from None
