"""Settings of the generate service, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.runtime.services import local_address
from ragplane.runtime.settings import (
    CommonSettings,
    env,
    in_range,
    load_settings,
    non_empty,
    non_negative,
    one_of,
    optional,
)
from ragplane_generate.llm_client import STREAMING_MODES
from ragplane_generate.prompt import ANSWER_STYLES, DEFAULT_ANSWER_STYLE, PromptBudget
from ragplane_generate.templates import TEMPLATES

# Token budgets per deployment profile. "gpu" follows the design guide (system ~500, context <= 3,000, answer
# <= 512). "cpu" is sized for the CPU model server, where reading the prompt dominates latency: every prompt
# token not already cached adds 74 ms to the time to first token on the shared 2-core machine this was measured
# on (see the README's table), so the context holds about three SQuAD-sized passages.
PROFILES: dict[str, PromptBudget] = {
    "gpu": PromptBudget(
        system_tokens=500, context_tokens=3000, history_tokens=1000, query_tokens=256, answer_tokens=512
    ),
    "cpu": PromptBudget(system_tokens=500, context_tokens=640, history_tokens=200, query_tokens=128, answer_tokens=256),
}


@dataclass(frozen=True)
class Settings(CommonSettings):
    """Settings of the generate service (the model server has its own, in ``modelserver.config``)."""

    model_addr: str = env(
        "RAGPLANE_MODEL_ADDR",
        local_address("modelserver"),
        doc="host:port of the v2 gRPC endpoint (ragplane's model server or Triton)",
    )
    llm_model_name: str = env(
        "RAGPLANE_LLM_MODEL_NAME",
        "ensemble",
        check=non_empty,
        doc="v2 model name to call (the TensorRT-LLM ensemble is 'ensemble')",
    )
    llm_model: str = env(
        "RAGPLANE_LLM_MODEL",
        "qwen2.5-1.5b",
        doc="the served model (qwen2.5-1.5b, smollm2-135m or a GGUF path): picks the tokenizer "
        "and chat template in 'auto', and labels results",
    )
    model_cache: str = env("RAGPLANE_MODEL_CACHE", "", doc="where joined model files are kept")
    models_dir: str = env("RAGPLANE_MODELS_DIR", "", doc="folder relative GGUF paths are looked up in")
    profile: str = env(
        "RAGPLANE_GENERATE_PROFILE",
        "cpu",
        check=one_of(*sorted(PROFILES)),
        doc="token budget profile: cpu (CPU model server) or gpu (Triton)",
    )
    answer_style: str = env(
        "RAGPLANE_GENERATE_ANSWER_STYLE",
        DEFAULT_ANSWER_STYLE,
        check=one_of(*sorted(ANSWER_STYLES)),
        doc="concise: the shortest phrase that answers, with its [n] (measured best on SQuAD); "
        "detailed: one to three sentences, each cited",
    )
    chat_template: str = env(
        "RAGPLANE_GENERATE_CHAT_TEMPLATE",
        "auto",
        check=one_of(*sorted({"auto", *TEMPLATES})),
        doc="auto (from RAGPLANE_LLM_MODEL), chatml, llama3 or plain",
    )
    tokenizer: str = env(
        "RAGPLANE_GENERATE_TOKENIZER",
        "auto",
        check=one_of("approx", "auto", "model"),
        doc="model: the GGUF's own tokenizer (must be local); approx: a character estimate; "
        "auto: model when the GGUF is local, else approx",
    )
    system_tokens: int | None = env(
        "RAGPLANE_GENERATE_SYSTEM_TOKENS",
        None,
        check=optional(non_negative),
        doc="budget for the rules and fixed prompt text (default: the profile's)",
    )
    context_tokens: int | None = env(
        "RAGPLANE_GENERATE_CONTEXT_TOKENS",
        None,
        check=optional(non_negative),
        doc="budget for the numbered passages (default: the profile's)",
    )
    history_tokens: int | None = env(
        "RAGPLANE_GENERATE_HISTORY_TOKENS",
        None,
        check=optional(non_negative),
        doc="budget for earlier turns (default: the profile's)",
    )
    query_tokens: int | None = env(
        "RAGPLANE_GENERATE_QUERY_TOKENS",
        None,
        check=optional(non_negative),
        doc="longest question accepted (default: the profile's)",
    )
    answer_tokens: int | None = env(
        "RAGPLANE_GENERATE_ANSWER_TOKENS",
        None,
        check=optional(non_negative),
        doc="default max_tokens of an answer (default: the profile's)",
    )
    max_tokens_limit: int = env(
        "RAGPLANE_GENERATE_MAX_TOKENS", 2048, check=non_negative, doc="largest max_tokens a request may ask for"
    )
    temperature: float = env(
        "RAGPLANE_GENERATE_TEMPERATURE",
        0.0,
        check=in_range(0.0, 2.0),
        doc="default temperature (0: greedy, for grounded answers)",
    )
    top_p: float = env(
        "RAGPLANE_GENERATE_TOP_P", 1.0, check=in_range(0.0, 1.0, low_open=True), doc="default nucleus sampling mass"
    )
    streaming: str = env(
        "RAGPLANE_LLM_STREAMING",
        "auto",
        check=one_of(*sorted(STREAMING_MODES)),
        doc="auto: ModelStreamInfer, falling back to ModelInfer when the server lacks it; on; off",
    )
    llm_retries: int = env(
        "RAGPLANE_LLM_RETRIES",
        2,
        check=non_negative,
        doc="extra attempts when the model server is unavailable or busy (before any text)",
    )

    def budget(self) -> PromptBudget:
        """The profile's budgets with any explicit overrides.

        Raises:
            ValueError: an override makes a budget invalid.
        """
        base = PROFILES[self.profile]
        return PromptBudget(
            system_tokens=base.system_tokens if self.system_tokens is None else self.system_tokens,
            context_tokens=base.context_tokens if self.context_tokens is None else self.context_tokens,
            history_tokens=base.history_tokens if self.history_tokens is None else self.history_tokens,
            query_tokens=base.query_tokens if self.query_tokens is None else self.query_tokens,
            answer_tokens=base.answer_tokens if self.answer_tokens is None else self.answer_tokens,
        )


def load() -> Settings:
    """Settings from the environment (raises SettingsError naming the variable)."""
    return load_settings(Settings)
