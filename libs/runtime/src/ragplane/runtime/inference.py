"""The Open Inference Protocol (v2, KServe / Triton gRPC) client every model-server caller uses.

One error mapping (``map_error``) turns transport, gRPC and server failures into the runtime's exceptions, so a
model server that is down reads as UNAVAILABLE, a busy one as RESOURCE_EXHAUSTED and a rejected request as
FAILED_PRECONDITION whichever service called it. Every call has a deadline: the one given, else what is left
of the current request's deadline, else the client's default.

``tritonclient.grpc`` and ``kserve`` cannot be imported into one process (duplicate protobuf symbols) and the
model server imports this runtime, so tritonclient is imported only when a client is started.

Given the caller's settings, a client uses the runtime's channel options (per-call ``round_robin`` over a
``dns:///`` name, keepalive, DNS refresh), TLS when RAGPLANE_MODEL_SERVER_TLS (verified with RAGPLANE_TLS_CA_FILE,
presenting the workload's certificate), and replaces its channel every RAGPLANE_MODEL_CHANNEL_MAX_AGE_S: Triton
sets no maximum connection age (its gRPC server has no such option), so without this a caller would stay on
the replicas it first resolved and a Triton replica added later would get none of its calls. The old channel
is closed only after the calls on it had their time to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import grpc
import numpy as np

from ragplane.runtime import errors
from ragplane.runtime.clients import channel_options
from ragplane.runtime.interceptors import remaining_time
from ragplane.runtime.retry import Backoff, retry_async
from ragplane.runtime.settings import CommonSettings
from ragplane.runtime.tls import channel_credentials

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


def model_channel_args(settings: CommonSettings | None = None) -> list[tuple[str, Any]]:
    """The channel arguments of a v2 client: the runtime's (``channel_options``) with tritonclient's size limit."""
    return channel_options(settings, max_message_bytes=MAX_MESSAGE_BYTES)


def model_credentials(settings: CommonSettings | None) -> grpc.ChannelCredentials | None:
    """TLS credentials for the model server when RAGPLANE_MODEL_SERVER_TLS, else None (plaintext)."""
    if settings is None or not settings.model_server_tls:
        return None
    return channel_credentials(settings.tls_ca_file, settings.tls_cert_file, settings.tls_key_file)


@dataclasses.dataclass(frozen=True)
class _ChannelPolicy:
    args: list[tuple[str, Any]]
    settings: CommonSettings | None
    # 0: keep one channel for the client's life.
    max_age_s: float
    # The least time a replaced channel stays open for the calls already on it.
    retire_after_s: float

    @property
    def credentials(self) -> grpc.ChannelCredentials | None:
        """Read at each new channel, so a renewed client certificate is used from the next channel on."""
        return model_credentials(self.settings)

    @classmethod
    def of(cls, settings: CommonSettings | None, timeout_s: float) -> _ChannelPolicy:
        if settings is None:
            return cls(CHANNEL_ARGS, None, 0.0, timeout_s)
        return cls(
            model_channel_args(settings),
            settings,
            settings.model_channel_max_age_s,
            max(timeout_s, settings.grpc_max_connection_age_grace_s),
        )


class InferenceClient:
    """An asyncio client to one model on a v2 gRPC server.

    Args:
        address: host:port of the server's gRPC endpoint, or dns:///name:port to balance over its replicas.
        model: the v2 model name.
        subject: names the server in error messages (default "model server (<model>)").
        timeout_s: the deadline of a call made outside a request, when the call gives none.
        retry: tries for a server that is down or busy (default: one try).
        settings: the caller's settings: channel options, TLS and the channel's maximum age (module docstring);
            None: the default channel options, plaintext, one channel for the client's life.
    """

    def __init__(
        self,
        address: str,
        model: str,
        *,
        subject: str = "",
        timeout_s: float = 30.0,
        retry: Backoff | None = None,
        settings: CommonSettings | None = None,
    ) -> None:
        self.address = address
        self.model = model
        self.subject = subject or f"model server ({model})"
        self.timeout_s = timeout_s
        self._retry = retry or Backoff(attempts=1)
        self._policy = _ChannelPolicy.of(settings, timeout_s)
        self._client: Any = None
        self._opened = 0.0
        self._retiring: dict[asyncio.Task, Any] = {}
        self.channels_opened = 0

    def _open(self) -> Any:
        from tritonclient.grpc.aio import InferenceServerClient

        self.channels_opened += 1
        self._opened = time.monotonic()
        return InferenceServerClient(self.address, channel_args=self._policy.args, creds=self._policy.credentials)

    async def start(self) -> None:
        """Open the channel (inside the running event loop)."""
        if self._client is None:
            self._client = self._open()

    async def _current(self) -> Any:
        """The channel for a new call: a fresh one once the current one reached its maximum age."""
        await self.start()
        max_age = self._policy.max_age_s
        if max_age and time.monotonic() - self._opened >= max_age:
            old, self._client = self._client, self._open()
            task = asyncio.create_task(self._retire(old), name=f"retire-channel-{self.model}")
            self._retiring[task] = old
            task.add_done_callback(lambda done: self._retiring.pop(done, None))
        return self._client

    async def _retire(self, client: Any) -> None:
        await asyncio.sleep(self._policy.retire_after_s)
        with contextlib.suppress(Exception):
            await client.close()

    async def close(self) -> None:
        retiring = list(self._retiring.items())
        self._retiring.clear()
        for task, client in retiring:
            task.cancel()
            with contextlib.suppress(Exception):
                await client.close()
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
        client = await self._current()
        try:
            return bool(await client.is_model_ready(self.model, client_timeout=timeout_s))
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
            client = await self._current()
            try:
                return await client.infer(
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
        client = await self._current()
        request = {"model_name": self.model, "inputs": _inputs(inputs), "request_id": uuid.uuid4().hex}

        async def requests():
            yield request

        responses = client.stream_infer(requests(), stream_timeout=self._timeout(timeout_s))
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
        settings: the caller's settings (see ``InferenceClient``).
    """

    def __init__(
        self,
        address: str,
        model: str,
        *,
        subject: str = "",
        timeout_s: float = 30.0,
        settings: CommonSettings | None = None,
    ) -> None:
        self.address = address
        self.model = model
        self.subject = subject or f"model server ({model})"
        self.timeout_s = timeout_s
        self._policy = _ChannelPolicy.of(settings, timeout_s)
        self._client: Any = None
        self._opened = 0.0
        self._lock = threading.Lock()
        self.channels_opened = 0

    def _open(self) -> Any:
        import tritonclient.grpc

        self.channels_opened += 1
        self._opened = time.monotonic()
        return tritonclient.grpc.InferenceServerClient(
            url=self.address, channel_args=self._policy.args, creds=self._policy.credentials
        )

    def start(self) -> None:
        with self._lock:
            if self._client is None:
                self._client = self._open()

    def _current(self) -> Any:
        """The channel for a new call: a fresh one once the current one reached its maximum age."""
        self.start()
        with self._lock:
            max_age = self._policy.max_age_s
            if max_age and time.monotonic() - self._opened >= max_age:
                old, self._client = self._client, self._open()
                retire = threading.Timer(self._policy.retire_after_s, old.close)
                retire.daemon = True
                retire.start()
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def ready(self) -> None:
        """Return when the server is live and the model ready.

        Raises:
            Unavailable: the server cannot be reached or the model is not ready.
        """
        client = self._current()
        try:
            live = client.is_server_live(client_timeout=self.timeout_s)
            if live and client.is_model_ready(self.model, client_timeout=self.timeout_s):
                return
        except Exception as exc:  # noqa: BLE001 - tritonclient raises InferenceServerException or RpcError
            raise errors.Unavailable(f"{self.subject}: {_details(exc)}") from None
        raise errors.Unavailable(f"{self.subject}: model {self.model!r} not ready")

    def infer(self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] = ()) -> Any:
        """One ModelInfer call (see ``InferenceClient.infer``); not retried."""
        client = self._current()
        try:
            return client.infer(
                self.model,
                _inputs(inputs),
                outputs=_outputs(outputs) or None,
                request_id=uuid.uuid4().hex,
                client_timeout=self.timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - tritonclient raises InferenceServerException or RpcError
            raise map_error(exc, self.subject) from None
