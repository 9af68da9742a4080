"""The LLM client: the TensorRT-LLM ensemble contract over the v2 inference protocol (``ragplane.runtime.inference``).

Streaming uses decoupled ``stream_infer`` (ModelStreamInfer) when the server supports it; a server that does not
(UNIMPLEMENTED, such as a plain kserve server) is remembered and served through ModelInfer from then on. Every
call carries a deadline; a caller that goes away cancels the call, which cancels the generation on the server.
A call that fails before its first text (server down or busy) is retried within its deadline.
Token counts come from the server's ``input_token_count``/``output_token_count`` outputs when it sends them
(ragplane's model server does; Triton's ensemble does not) and are otherwise counted here.

This module imports tritonclient when a call starts: never call it in a process that imports kserve.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from ragplane.runtime import inference
from ragplane.runtime.logs import get_logger
from ragplane.runtime.retry import Backoff, retry_async
from ragplane.runtime.settings import CommonSettings

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


def build_inputs(prompt: str, sampling: Sampling, stream: bool) -> dict[str, np.ndarray]:
    """The ensemble's input tensors for one request (batch size 1), by name."""
    inputs = {
        "text_input": np.array([[prompt.encode("utf-8")]], dtype=np.object_),
        "max_tokens": np.array([[sampling.max_tokens]], dtype=np.int32),
        "temperature": np.array([[sampling.temperature]], dtype=np.float32),
        "top_p": np.array([[sampling.top_p]], dtype=np.float32),
        "stream": np.array([[stream]], dtype=np.bool_),
    }
    if sampling.stop:
        inputs["stop_words"] = np.array([[s.encode("utf-8") for s in sampling.stop]], dtype=np.object_)
    if sampling.seed is not None:
        inputs["random_seed"] = np.array([[sampling.seed]], dtype=np.uint64)
    if sampling.min_tokens > 0:
        inputs["min_length"] = np.array([[sampling.min_tokens]], dtype=np.int32)
    return inputs


def _text(result) -> str:
    array = result.as_numpy("text_output")
    if array is None or array.size == 0:
        return ""
    return "".join(v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v) for v in array.reshape(-1))


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
        backoff_s: the ceiling of the first jittered wait between attempts.
        settings: the service's settings, for the channel (options, TLS, maximum age; inference.InferenceClient).
    """

    def __init__(
        self,
        address: str,
        model: str,
        streaming: str = "auto",
        retries: int = 2,
        backoff_s: float = 0.2,
        *,
        settings: CommonSettings | None = None,
    ) -> None:
        if streaming not in STREAMING_MODES:
            raise ValueError(f"streaming must be one of {', '.join(STREAMING_MODES)}, but got {streaming!r}")
        self.address = address
        self.model = model
        self._stream_supported: bool | None = None if streaming == "auto" else streaming == "on"
        self._retry = Backoff(base_s=backoff_s, cap_s=max(5.0, backoff_s), attempts=retries + 1)
        self._client = inference.InferenceClient(address, model, settings=settings)

    async def start(self) -> None:
        """Open the channel (inside the running event loop)."""
        await self._client.start()

    async def close(self) -> None:
        await self._client.close()

    @property
    def streams(self) -> bool | None:
        """Whether calls stream: None until an "auto" client has tried."""
        return self._stream_supported

    async def is_ready(self, timeout_s: float = 2.0) -> bool:
        """Whether the server reports the model ready (False when it cannot be reached)."""
        return await self._client.is_ready(timeout_s)

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
        deadline = time.monotonic() + timeout_s
        # Only the start of a call is retried: once text went to the caller, a second try would repeat it.
        first, events = await retry_async(
            lambda: self._open(prompt, sampling, deadline),
            self._retry,
            retriable=inference.retriable,
            deadline=deadline,
            what=self._client.subject,
        )
        async with contextlib.aclosing(events):
            yield first
            async for event in events:
                yield event

    async def _open(
        self, prompt: str, sampling: Sampling, deadline: float
    ) -> tuple[Delta | Completion, AsyncIterator[Delta | Completion]]:
        """A new call's first event and the call's other events; an "auto" client learns whether it streams."""
        while True:
            streaming = self._stream_supported is not False
            call = self._stream if streaming else self._infer
            events = call(prompt, sampling, deadline - time.monotonic())
            try:
                first = await anext(events)
            except inference.Unimplemented:
                await events.aclose()
                if not streaming or self._stream_supported is not None:
                    raise
                log.info("model server has no ModelStreamInfer; using ModelInfer", model=self.model)
                self._stream_supported = False
                continue
            except BaseException:
                await events.aclose()
                raise
            if streaming:
                self._stream_supported = True
            return first, events

    async def _infer(self, prompt: str, sampling: Sampling, timeout_s: float) -> AsyncIterator[Delta | Completion]:
        result = await self._client.infer(build_inputs(prompt, sampling, stream=False), timeout_s=timeout_s)
        text = _text(result)
        if text:
            yield Delta(text)
        yield _completion(result)

    async def _stream(self, prompt: str, sampling: Sampling, timeout_s: float) -> AsyncIterator[Delta | Completion]:
        responses = self._client.stream(build_inputs(prompt, sampling, stream=True), timeout_s=timeout_s)
        async with contextlib.aclosing(responses):
            async for result in responses:
                text = _text(result)
                if text:
                    yield Delta(text)
                if _is_final(result):
                    yield _completion(result)
                    return
        # The server closed the stream without flagging a final response.
        yield Completion(None, None, None)
