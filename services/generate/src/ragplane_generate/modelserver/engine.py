"""llama.cpp generation with a request queue, a fixed set of contexts ("slots") and cancellation.

Scheduling, stated plainly: requests wait in one FIFO queue (at most ``max_queue`` waiting; more are refused)
and each runs to completion on one of ``slots`` llama.cpp contexts, in a worker thread so that the event loop
never blocks. The contexts share the memory-mapped weights; each has its own KV cache. Tokens of different
requests are not fused into one forward pass (llama.cpp's multi-sequence batching is not used), so on a CPU
several slots split the cores between requests rather than multiplying throughput. Each slot keeps the KV
cache of its last prompt, so a request that starts with the same tokens (the system prompt) skips reading
them again.

A request can be cancelled at any time: the prompt is read in chunks of ``prompt_chunk`` tokens and the
worker checks for cancellation between chunks and between generated tokens.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragplane_generate.modelserver.contract import GenerationRequest


class QueueFull(RuntimeError):
    """The request queue is full; the caller may retry later."""


class PromptTooLong(ValueError):
    """The prompt and the requested tokens do not fit the context window."""


class EngineNotReady(RuntimeError):
    """The model has not been loaded (yet)."""


@dataclass(frozen=True)
class TextChunk:
    """Generated text, in order."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The end of a generation.

    Attributes:
        prompt_tokens: tokens in the prompt.
        completion_tokens: tokens generated (including a stop string's tokens, excluding end-of-sequence).
        finish_reason: "stop" (end-of-sequence or a stop string), "length" or "cancelled".
        ttft_s: seconds from submission to the first generated token (None when there was none).
        queued_s: seconds spent waiting for a slot.
    """

    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    ttft_s: float | None
    queued_s: float


Event = TextChunk | Finished


@dataclass(frozen=True)
class EngineConfig:
    """How the engine loads and schedules.

    Attributes:
        model_path: the GGUF file.
        n_ctx: context window per slot, in tokens.
        threads: CPU threads per slot.
        slots: llama.cpp contexts serving requests in parallel.
        max_queue: requests that may wait for a slot.
        n_batch: tokens per llama.cpp decode call while reading a prompt.
        prompt_chunk: tokens read between cancellation checks.
    """

    model_path: Path
    n_ctx: int = 4096
    threads: int = 2
    slots: int = 1
    max_queue: int = 16
    n_batch: int = 256
    prompt_chunk: int = 128


class _StopMatcher:
    """Holds back text that could be the start of a stop string, and finds complete stop strings."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._text = ""
        self._emitted = 0

    def feed(self, piece: str) -> tuple[str, bool]:
        """Add generated text; return (text safe to emit now, whether a stop string was reached)."""
        self._text += piece
        start = max(0, self._emitted - max((len(s) for s in self._stops), default=0))
        hits = [i for i in (self._text.find(s, start) for s in self._stops) if i >= 0]
        if hits:
            end = min(hits)
            out = self._text[self._emitted : end] if end > self._emitted else ""
            self._emitted = max(self._emitted, end)
            return out, True
        safe = len(self._text)
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(self._text)), 0, -1):
                if self._text.endswith(stop[:k]):
                    safe = min(safe, len(self._text) - k)
                    break
        out = self._text[self._emitted : safe]
        self._emitted = max(self._emitted, safe)
        return out, False

    def flush(self) -> str:
        """Text held back at the end of generation (no stop string completed)."""
        out = self._text[self._emitted :]
        self._emitted = len(self._text)
        return out


class LlamaEngine:
    """Generates text with llama.cpp for concurrent async callers.

    Args:
        config: model file and scheduling.
        on_finished: called (in the event loop) with each request's ``Finished`` event, for metrics.
    """

    def __init__(self, config: EngineConfig, on_finished: Callable[[Finished], None] | None = None) -> None:
        self.config = config
        self._on_finished = on_finished
        self._slots: list[Any] = []
        self._free: asyncio.Queue[Any] | None = None
        self._waiting = 0
        self._executor: ThreadPoolExecutor | None = None
        self._eog: list[int] = []
        self._eog_set: frozenset[int] = frozenset()
        self.ready = False

    def load(self) -> None:
        """Load the model into ``slots`` contexts (blocking; seconds). Safe to call once."""
        from llama_cpp import Llama, llama_cpp

        cfg = self.config
        for _ in range(cfg.slots):
            self._slots.append(
                Llama(
                    model_path=str(cfg.model_path),
                    n_ctx=cfg.n_ctx,
                    n_batch=cfg.n_batch,
                    n_ubatch=cfg.n_batch,
                    n_threads=cfg.threads,
                    n_threads_batch=cfg.threads,
                    verbose=False,
                    use_mmap=True,
                )
            )
        first = self._slots[0]
        vocab = first._model.vocab
        self._eog = [t for t in range(first.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, t)]
        self._eog_set = frozenset(self._eog)
        self._executor = ThreadPoolExecutor(max_workers=cfg.slots, thread_name_prefix="llama-slot")
        self.ready = True

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as the model reads a prompt (special tokens parsed)."""
        if not self.ready:
            raise EngineNotReady("the model is not loaded")
        return len(self._slots[0].tokenize(text.encode("utf-8"), add_bos=True, special=True))

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Event]:
        """Generate for one request: ``TextChunk`` events, then one ``Finished``.

        Closing the iterator early (or cancelling the task that iterates it) cancels the generation.

        Raises:
            EngineNotReady: before ``load``.
            QueueFull: ``max_queue`` requests are already waiting.
            PromptTooLong: the prompt plus ``max_tokens`` exceed the context window.
        """
        if not self.ready:
            raise EngineNotReady("the model is not loaded")
        loop = asyncio.get_running_loop()
        if self._free is None:
            self._free = asyncio.Queue()
            for slot in self._slots:
                self._free.put_nowait(slot)
        free = self._free
        if free.empty() and self._waiting >= self.config.max_queue:
            raise QueueFull(f"{self._waiting} requests are waiting for the model; retry later")
        submitted = time.perf_counter()
        self._waiting += 1
        try:
            slot = await free.get()
        finally:
            self._waiting -= 1
        events: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        cancelled = threading.Event()
        queued_s = time.perf_counter() - submitted

        def emit(item: Event | BaseException) -> None:
            loop.call_soon_threadsafe(events.put_nowait, item)

        def work() -> None:
            try:
                self._run(slot, request, emit, cancelled, submitted, queued_s)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                emit(exc)
            finally:
                loop.call_soon_threadsafe(free.put_nowait, slot)

        future = loop.run_in_executor(self._executor, work)
        finished = False
        try:
            while True:
                item = await events.get()
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Finished):
                    finished = True
                    if self._on_finished is not None:
                        self._on_finished(item)
                    yield item
                    return
                yield item
        finally:
            if not finished:
                cancelled.set()
                # Wait for the worker so that its cancelled outcome is recorded and the slot is back in the pool.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(future)
                while not events.empty():
                    item = events.get_nowait()
                    if isinstance(item, Finished) and self._on_finished is not None:
                        self._on_finished(item)

    def _run(
        self,
        llm: Any,
        request: GenerationRequest,
        emit: Callable[[Event | BaseException], None],
        cancelled: threading.Event,
        submitted: float,
        queued_s: float,
    ) -> None:
        """Blocking: read the prompt, generate, emit events. Runs in a slot's worker thread."""
        from llama_cpp import LLAMA_DEFAULT_SEED, LogitsProcessorList

        tokens = llm.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=True)
        if len(tokens) + request.max_tokens > self.config.n_ctx:
            raise PromptTooLong(
                f"prompt of {len(tokens)} tokens plus max_tokens {request.max_tokens} exceeds the context window "
                f"of {self.config.n_ctx} tokens"
            )

        def done(reason: str, generated: int, first_token_at: float | None) -> None:
            ttft = None if first_token_at is None else first_token_at - submitted
            emit(Finished(len(tokens), generated, reason, ttft, queued_s))

        if not self._read_prompt(llm, tokens, cancelled):
            done("cancelled", 0, None)
            return
        llm.set_seed(LLAMA_DEFAULT_SEED if request.seed is None else request.seed)
        processors = None
        if request.min_tokens > 0:
            processors = LogitsProcessorList([_SuppressUntil(self._eog, request.min_tokens)])
        matcher = _StopMatcher(request.stop)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        generated = 0
        first_token_at: float | None = None
        reason = "length"
        stop_string_hit = False
        for token in llm.generate(
            tokens,
            top_k=0,
            top_p=request.top_p,
            min_p=0.0,
            temp=request.temperature,
            repeat_penalty=1.0,
            reset=True,
            logits_processor=processors,
        ):
            if cancelled.is_set():
                reason = "cancelled"
                break
            if token in self._eog_set:
                reason = "stop"
                break
            generated += 1
            if first_token_at is None:
                first_token_at = time.perf_counter()
            text, stopped = matcher.feed(decoder.decode(llm.detokenize([token])))
            if text:
                emit(TextChunk(text))
            if stopped:
                reason, stop_string_hit = "stop", True
                break
            if generated >= request.max_tokens:
                break
        if reason != "cancelled" and not stop_string_hit:
            tail, stop_string_hit = matcher.feed(decoder.decode(b"", final=True))
            if not stop_string_hit:
                tail += matcher.flush()
            if tail:
                emit(TextChunk(tail))
        done(reason, generated, first_token_at)

    def _read_prompt(self, llm: Any, tokens: list[int], cancelled: threading.Event) -> bool:
        """Evaluate the prompt in chunks, reusing the slot's cached prefix; False when cancelled.

        Afterwards ``llm.generate(tokens)`` finds the whole prompt cached and samples at once.
        """
        cached = llm.n_tokens
        prefix = 0
        for a, b in zip(llm.input_ids[:cached], tokens):
            if a != b:
                break
            prefix += 1
        # At least one token is evaluated so that the logits belong to this prompt.
        prefix = min(prefix, len(tokens) - 1)
        if prefix > 0:
            llm.n_tokens = prefix
        else:
            llm.reset()
        chunk = self.config.prompt_chunk
        for start in range(prefix, len(tokens), chunk):
            if cancelled.is_set():
                llm.reset()
                return False
            llm.eval(tokens[start : start + chunk])
        return True

    def close(self) -> None:
        """Refuse new requests, let running ones finish, then release the contexts (blocking)."""
        self.ready = False
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        for slot in self._slots:
            with contextlib.suppress(Exception):
                slot.close()
        self._slots.clear()
        self._free = None


class _SuppressUntil:
    """Logits processor: end-of-generation tokens are impossible until ``min_tokens`` have been generated."""

    def __init__(self, eog: list[int], min_tokens: int) -> None:
        self._eog = eog
        self._min_tokens = min_tokens
        self._prompt_len: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self._prompt_len is None:
            self._prompt_len = len(input_ids)
        if len(input_ids) - self._prompt_len < self._min_tokens:
            scores[self._eog] = -float("inf")
        return scores
