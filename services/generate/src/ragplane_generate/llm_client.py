"""The LLM client: the TensorRT-LLM ensemble contract over the v2 inference protocol (``tritonclient.grpc.aio``).

Streaming uses decoupled ``stream_infer`` (ModelStreamInfer) when the server supports it; a server that does not
(UNIMPLEMENTED, such as a plain kserve server) is remembered and served through ModelInfer from then on. Every
call carries a deadline; a caller that goes away cancels the call, which cancels the generation on the server.
Token counts come from the server's ``input_token_count``/``output_token_count`` outputs when it sends them
(ragplane's model server does; Triton's ensemble does not) and are otherwise counted here.

This module imports tritonclient: never import it in a process that imports kserve.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import numpy as np
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

from ragplane.runtime import errors
from ragplane.runtime.logs import get_logger

log = get_logger(__name__)

FINAL_RESPONSE_PARAMETER = "triton_final_response"
STREAMING_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one call."""

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Sent as ``min_length`` when > 0 (benchmarks use it to fix the number of generated tokens).
    min_tokens: int = 0


@dataclass(frozen=True)
class Delta:
    """A piece of generated text, in order."""

    text: str


@dataclass(frozen=True)
class Completion:
    """The end of a generation; counts are None when the server does not report them."""

    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None


def _status_name(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return exc.code().name
    status = exc.status() if isinstance(exc, InferenceServerException) else None
    return (status or "").replace("StatusCode.", "")


def map_error(exc: BaseException, model: str) -> errors.RagplaneError:
    """A model-server failure as a domain error that keeps its meaning for the caller."""
    code = _status_name(exc)
    message = exc.details() if isinstance(exc, grpc.RpcError) and hasattr(exc, "details") else str(exc)
    if isinstance(exc, InferenceServerException):
        message = exc.message()
    message = f"model server ({model}): {message}"
    lowered = message.lower()
    if code == "DEADLINE_EXCEEDED":
        return errors.DeadlineExceeded(message)
    if code == "UNAVAILABLE" or (not code and "not ready" in lowered):
        return errors.Unavailable(message)
    if code == "RESOURCE_EXHAUSTED" or (not code and "retry later" in lowered):
        return errors.ResourceExhausted(message, retry_after_s=1.0)
    if code == "CANCELLED":
        return errors.Cancelled(message)
    if code in ("NOT_FOUND", "INVALID_ARGUMENT", "UNIMPLEMENTED", ""):
        # Errors on a stream carry no status code: the server rejected this request (unknown model, bad input).
        return errors.FailedPrecondition(message)
    return errors.Internal(message)


def _scalar_input(name: str, datatype: str, value: object, dtype: type) -> InferInput:
    array = np.array([[value]], dtype=dtype)
    tensor = InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def build_inputs(prompt: str, sampling: Sampling, stream: bool) -> list[InferInput]:
    """The ensemble's input tensors for one request (batch size 1)."""
    inputs = [
        _scalar_input("text_input", "BYTES", prompt.encode("utf-8"), np.object_),
        _scalar_input("max_tokens", "INT32", sampling.max_tokens, np.int32),
        _scalar_input("temperature", "FP32", sampling.temperature, np.float32),
        _scalar_input("top_p", "FP32", sampling.top_p, np.float32),
        _scalar_input("stream", "BOOL", stream, np.bool_),
    ]
    if sampling.stop:
        stops = np.array([[s.encode("utf-8") for s in sampling.stop]], dtype=np.object_)
        tensor = InferInput("stop_words", list(stops.shape), "BYTES")
        tensor.set_data_from_numpy(stops)
        inputs.append(tensor)
    if sampling.seed is not None:
        inputs.append(_scalar_input("random_seed", "UINT64", sampling.seed, np.uint64))
    if sampling.min_tokens > 0:
        inputs.append(_scalar_input("min_length", "INT32", sampling.min_tokens, np.int32))
    return inputs


def _text(result) -> str:
    array = result.as_numpy("text_output")
    if array is None or array.size == 0:
        return ""
    return "".join(v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
                   for v in array.reshape(-1))


def _int(result, name: str) -> int | None:
    array = result.as_numpy(name)
    return int(array.reshape(-1)[0]) if array is not None and array.size else None


def _finish(result) -> str | None:
    array = result.as_numpy("finish_reason")
    if array is None or array.size == 0:
        return None
    value = array.reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)


def _completion(result) -> Completion:
    return Completion(_int(result, "input_token_count"), _int(result, "output_token_count"), _finish(result))


def _is_final(result) -> bool:
    parameters = result.get_response().parameters
    return FINAL_RESPONSE_PARAMETER in parameters and parameters[FINAL_RESPONSE_PARAMETER].bool_param


class LlmClient:
    """Calls one model over the v2 protocol.

    Args:
        address: host:port of the v2 gRPC endpoint.
        model: the v2 model name (``ensemble``).
        streaming: "auto" (stream, falling back to ModelInfer on UNIMPLEMENTED), "on" or "off".
        retries: extra attempts for UNAVAILABLE / RESOURCE_EXHAUSTED before any text was received.
        backoff_s: base of the jittered exponential backoff between attempts.
    """

    def __init__(self, address: str, model: str, streaming: str = "auto", retries: int = 2,
                 backoff_s: float = 0.2) -> None:
        if streaming not in STREAMING_MODES:
            raise ValueError(f"streaming must be one of {', '.join(STREAMING_MODES)}, but got {streaming!r}")
        self.address = address
        self.model = model
        self._streaming = streaming
        self._stream_supported: bool | None = None if streaming == "auto" else streaming == "on"
        self._retries = retries
        self._backoff_s = backoff_s
        self._client: InferenceServerClient | None = None

    async def start(self) -> None:
        """Open the channel (inside the running event loop)."""
        if self._client is None:
            self._client = InferenceServerClient(self.address)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def streams(self) -> bool | None:
        """Whether calls stream: None until an "auto" client has tried."""
        return self._stream_supported

    async def is_ready(self, timeout_s: float = 2.0) -> bool:
        """Whether the server reports the model ready (False when it cannot be reached)."""
        await self.start()
        assert self._client is not None
        try:
            return bool(await self._client.is_model_ready(self.model, client_timeout=timeout_s))
        except (InferenceServerException, grpc.RpcError):
            return False

    async def generate(self, prompt: str, sampling: Sampling, timeout_s: float) -> AsyncIterator[Delta | Completion]:
        """``Delta`` events as text arrives, then one ``Completion``.

        Args:
            prompt: the rendered prompt.
            sampling: sampling settings.
            timeout_s: the call's deadline, in seconds from now.

        Raises:
            RagplaneError: DeadlineExceeded, Unavailable, ResourceExhausted, FailedPrecondition (unknown model,
                rejected request), Internal.
        """
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        attempt = 0
        while True:
            received = False
            try:
                streaming = self._stream_supported is not False
                call = self._stream if streaming else self._infer
                async with contextlib.aclosing(call(prompt, sampling, deadline - loop.time())) as events:
                    async for event in events:
                        received = True
                        yield event
                if streaming:
                    self._stream_supported = True
                return
            except (InferenceServerException, grpc.RpcError) as exc:
                code = _status_name(exc)
                if code == "UNIMPLEMENTED" and self._stream_supported is None and not received:
                    log.info("model server has no ModelStreamInfer; using ModelInfer", model=self.model)
                    self._stream_supported = False
                    continue
                error = map_error(exc, self.model)
            if received or not error.retriable or attempt >= self._retries:
                raise error
            delay = self._backoff_s * (2 ** attempt) * random.uniform(0.5, 1.5)
            if loop.time() + delay >= deadline:
                raise error
            attempt += 1
            await asyncio.sleep(delay)

    async def _infer(self, prompt: str, sampling: Sampling, timeout_s: float) -> AsyncIterator[Delta | Completion]:
        assert self._client is not None
        if timeout_s <= 0:
            raise errors.DeadlineExceeded(f"model server ({self.model}): no time left for the call")
        result = await self._client.infer(self.model, build_inputs(prompt, sampling, stream=False),
                                          request_id=uuid.uuid4().hex, client_timeout=timeout_s)
        text = _text(result)
        if text:
            yield Delta(text)
        yield _completion(result)

    async def _stream(self, prompt: str, sampling: Sampling, timeout_s: float) -> AsyncIterator[Delta | Completion]:
        assert self._client is not None
        if timeout_s <= 0:
            raise errors.DeadlineExceeded(f"model server ({self.model}): no time left for the call")
        inputs = build_inputs(prompt, sampling, stream=True)

        async def requests():
            yield {"model_name": self.model, "inputs": inputs, "request_id": uuid.uuid4().hex}

        responses = self._client.stream_infer(requests(), stream_timeout=timeout_s)
        try:
            async for result, error in responses:
                if error is not None:
                    raise error
                text = _text(result)
                if text:
                    yield Delta(text)
                if _is_final(result):
                    yield _completion(result)
                    return
            # The server closed the stream without flagging a final response.
            yield Completion(None, None, None)
        finally:
            with contextlib.suppress(Exception):
                responses.cancel()
