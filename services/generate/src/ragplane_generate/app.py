"""The generate service's core wiring: servicer registration, start and stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from ragplane.runtime.logs import get_logger
from ragplane.v1 import generate_pb2_grpc
from ragplane_generate.config import Settings
from ragplane_generate.generator import Generator, SamplingDefaults
from ragplane_generate.llm_client import LlmClient
from ragplane_generate.models import ModelFileError, chat_template_for, resolve_model
from ragplane_generate.prompt import ANSWER_STYLES, PromptBuilder
from ragplane_generate.servicer import GenerateServiceServicer
from ragplane_generate.templates import get_template
from ragplane_generate.tokens import ApproxTokenCounter, GgufTokenCounter, TokenCounter

log = get_logger(__name__)


def build_counter(settings: Settings) -> TokenCounter:
    """The token counter the settings ask for (blocking: may join and hash the model file).

    Raises:
        ModelFileError: ``RAGPLANE_GENERATE_TOKENIZER=model`` and the model file cannot be resolved.
    """
    if settings.tokenizer == "approx":
        return ApproxTokenCounter()
    try:
        path = resolve_model(
            settings.llm_model,
            Path(settings.model_cache).expanduser() if settings.model_cache else None,
            settings.models_dir,
        )
    except ModelFileError as exc:
        if settings.tokenizer == "model":
            raise
        log.warning("model tokenizer not available; estimating tokens", model=settings.llm_model, reason=str(exc))
        return ApproxTokenCounter()
    return GgufTokenCounter(path)


class SettingsTokenCounter:
    """The counter ``build_counter`` picks, resolved in ``warm_up`` (which may hash the model file)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._counter: TokenCounter | None = None

    def warm_up(self) -> None:
        """Resolve the counter (blocking). Raises ModelFileError, as ``build_counter`` does."""
        self._counter = build_counter(self._settings)

    @property
    def name(self) -> str:
        return self._resolved().name

    def count(self, text: str) -> int:
        return self._resolved().count(text)

    def _resolved(self) -> TokenCounter:
        if self._counter is None:
            raise RuntimeError("SettingsTokenCounter used before warm_up()")
        return self._counter


class GenerateApp:
    """Prompt assembly and the LLM client behind ``ragplane.v1.GenerateService``."""

    name = "generate"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.budget = settings.budget()
        template_name = (
            chat_template_for(settings.llm_model) if settings.chat_template == "auto" else settings.chat_template
        )
        self.template = get_template(template_name)
        self.client = LlmClient(
            settings.model_addr,
            settings.llm_model_name,
            streaming=settings.streaming,
            retries=settings.llm_retries,
            settings=settings,
        )
        self.counter = SettingsTokenCounter(settings)
        system_prompt, reminder = ANSWER_STYLES[settings.answer_style]
        self.builder = PromptBuilder(
            self.template, self.counter, self.budget, system_prompt=system_prompt, reminder=reminder
        )
        defaults = SamplingDefaults(
            temperature=settings.temperature, top_p=settings.top_p, max_tokens_limit=settings.max_tokens_limit
        )
        self.generator = Generator(self.builder, self.client, defaults, settings.llm_model)

    def register(self, server: grpc.aio.Server) -> list[str]:
        servicer = GenerateServiceServicer(generator=self.generator)
        generate_pb2_grpc.add_GenerateServiceServicer_to_server(servicer, server)
        return ["ragplane.v1.GenerateService"]

    async def start(self) -> None:
        """Resolve the token counter, check the system budget against it, connect the model client."""
        await asyncio.to_thread(self.counter.warm_up)
        _ = self.builder.fixed_tokens  # a budget too small for the rules fails the start, not the first call
        await self.client.start()
        ready = await self.client.is_ready()
        log.info(
            "generate ready",
            model_addr=self.settings.model_addr,
            model=self.settings.llm_model_name,
            model_server_ready=ready,
            template=self.template.name,
            tokenizer=self.counter.name,
            profile=self.settings.profile,
            answer_style=self.settings.answer_style,
            context_tokens=self.budget.context_tokens,
        )

    async def stop(self) -> None:
        await self.client.close()
