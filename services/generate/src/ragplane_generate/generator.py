"""The generate core: request -> prompt -> model -> text, citations and usage. No gRPC types here."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ragplane.runtime.errors import InvalidArgument
from ragplane.runtime.logs import get_logger
from ragplane_generate import metrics
from ragplane_generate.citations import Citation, extract_citations
from ragplane_generate.llm_client import Completion, Delta, LlmClient, Sampling
from ragplane_generate.prompt import Passage, PromptBuilder, Turn

log = get_logger(__name__)

MAX_STOP_STRINGS = 8


@dataclass(frozen=True)
class GenerateInput:
    """One generation request; zero/None sampling values mean the service defaults."""

    query: str
    passages: list[Passage] = field(default_factory=list)
    history: list[Turn] = field(default_factory=list)
    max_tokens: int = 0
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class SamplingDefaults:
    """Defaults and limits of sampling."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens_limit: int = 2048


@dataclass(frozen=True)
class GenerationResult:
    """The outcome of a generation (see ``ragplane.v1.GenerationResult``)."""

    text: str
    citations: list[Citation]
    dropped_citations: list[int]
    prompt_tokens: int
    completion_tokens: int
    model: str
    finish_reason: str
    ttft_ms: float
    truncated_passages: int


class Generator:
    """Builds the prompt, calls the model and maps citations.

    Args:
        builder: prompt assembly for the served model.
        client: the v2 client.
        defaults: sampling defaults and limits.
        model_label: the model name reported in results.
    """

    def __init__(self, builder: PromptBuilder, client: LlmClient, defaults: SamplingDefaults, model_label: str) -> None:
        self.builder = builder
        self.client = client
        self.defaults = defaults
        self.model_label = model_label

    def _sampling(self, request: GenerateInput) -> Sampling:
        max_tokens = request.max_tokens or self.builder.budget.answer_tokens
        if max_tokens > self.defaults.max_tokens_limit:
            raise InvalidArgument(
                "sampling.max_tokens", f"must be <= {self.defaults.max_tokens_limit}, but got {max_tokens}"
            )
        temperature = self.defaults.temperature if request.temperature is None else request.temperature
        if not 0.0 <= temperature <= 2.0:
            raise InvalidArgument("sampling.temperature", f"must be between 0 and 2, but got {temperature}")
        top_p = self.defaults.top_p if request.top_p is None else request.top_p
        if not 0.0 < top_p <= 1.0:
            raise InvalidArgument("sampling.top_p", f"must be in (0, 1], but got {top_p}")
        if len(request.stop) > MAX_STOP_STRINGS:
            raise InvalidArgument("sampling.stop", f"at most {MAX_STOP_STRINGS} strings, but got {len(request.stop)}")
        stop = tuple(dict.fromkeys([*self.builder.template.stop, *(s for s in request.stop if s)]))
        return Sampling(max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop, seed=request.seed)

    async def stream(self, request: GenerateInput, timeout_s: float) -> AsyncIterator[str | GenerationResult]:
        """Text deltas as the model produces them, then the ``GenerationResult``.

        The result's text has invalid citation markers removed; the deltas are the model's raw text.

        Raises:
            InvalidArgument: an empty or too long query, or bad sampling values.
            RagplaneError: from the model call (Unavailable, DeadlineExceeded, ...).
        """
        sampling = self._sampling(request)
        prompt = self.builder.build(request.query, request.passages, request.history)
        started = time.perf_counter()
        first_at: float | None = None
        pieces: list[str] = []
        completion: Completion | None = None
        async with contextlib.aclosing(self.client.generate(prompt.text, sampling, timeout_s)) as events:
            async for event in events:
                if isinstance(event, Delta):
                    if first_at is None:
                        first_at = time.perf_counter()
                    pieces.append(event.text)
                    yield event.text
                else:
                    completion = event
        raw = "".join(pieces)
        for stop in sampling.stop:
            if raw.endswith(stop):
                raw = raw[: -len(stop)]
        cited = extract_citations(raw, prompt.passages)
        completion_tokens = (
            completion.completion_tokens
            if completion and completion.completion_tokens is not None
            else self.builder.counter.count(raw)
        )
        prompt_tokens = (
            completion.prompt_tokens if completion and completion.prompt_tokens is not None else prompt.prompt_tokens
        )
        finish = (
            completion.finish_reason
            if completion and completion.finish_reason
            else ("length" if completion_tokens >= sampling.max_tokens else "stop")
        )
        ttft_ms = ((first_at or time.perf_counter()) - started) * 1000.0
        metrics.TTFT.observe(ttft_ms / 1000.0)
        metrics.TOKENS.labels("prompt").inc(prompt_tokens)
        metrics.TOKENS.labels("completion").inc(completion_tokens)
        metrics.TRUNCATED_PASSAGES.inc(prompt.truncated_passages)
        metrics.DROPPED_CITATIONS.inc(len(cited.dropped))
        log.info(
            "generated",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish,
            ttft_ms=round(ttft_ms, 1),
            passages=len(prompt.passages),
            truncated=prompt.truncated_passages,
            citations=len(cited.citations),
            dropped_citations=len(cited.dropped),
        )
        yield GenerationResult(
            text=cited.text,
            citations=cited.citations,
            dropped_citations=cited.dropped,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            model=self.model_label,
            finish_reason=finish,
            ttft_ms=ttft_ms,
            truncated_passages=prompt.truncated_passages,
        )

    async def generate(self, request: GenerateInput, timeout_s: float) -> GenerationResult:
        """The whole answer (``stream`` collected)."""
        result: GenerationResult | None = None
        async for item in self.stream(request, timeout_s):
            if isinstance(item, GenerationResult):
                result = item
        assert result is not None
        return result
