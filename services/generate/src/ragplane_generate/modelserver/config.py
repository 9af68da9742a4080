"""Settings of the CPU model server, read once from the environment."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ragplane.runtime.settings import CommonSettings, env, load_settings, non_empty, non_negative, one_of, positive

LOAD_MODES = ("startup", "explicit")


@dataclass(frozen=True)
class ModelServerSettings(CommonSettings):
    """What the model server serves and how. ``RAGPLANE_GRPC_LISTEN`` defaults to 127.0.0.1:50070."""

    llm_model: str = env(
        "RAGPLANE_LLM_MODEL", "qwen2.5-1.5b", doc="qwen2.5-1.5b, smollm2-135m, or a path to a GGUF file"
    )
    llm_model_sha256: str = env(
        "RAGPLANE_LLM_MODEL_SHA256", "", doc="expected sha256 of a GGUF path (packaged models have theirs pinned)"
    )
    model_name: str = env(
        "RAGPLANE_LLM_MODEL_NAME",
        "ensemble",
        check=non_empty,
        doc="v2 model name it is served under (the TensorRT-LLM ensemble's name)",
    )
    models_dir: str = env("RAGPLANE_MODELS_DIR", "", doc="folder relative GGUF paths are looked up in")
    model_cache: str = env(
        "RAGPLANE_MODEL_CACHE", "", doc="where joined model files are kept (default ~/.cache/ragplane/models)"
    )
    load_mode: str = env(
        "RAGPLANE_LLM_LOAD",
        "startup",
        check=one_of(*LOAD_MODES),
        doc="startup: load at start; explicit: load on RepositoryModelLoad (Triton's explicit model control)",
    )
    context_tokens: int = env(
        "RAGPLANE_LLM_CONTEXT_TOKENS", 4096, check=positive, doc="context window per slot (prompt + generated tokens)"
    )
    max_tokens: int = env(
        "RAGPLANE_LLM_MAX_TOKENS", 1024, check=positive, doc="the most tokens one request may ask for"
    )
    slots: int = env(
        "RAGPLANE_LLM_SLOTS",
        1,
        check=positive,
        doc="llama.cpp contexts serving requests in parallel (weights are shared)",
    )
    threads: int = env(
        "RAGPLANE_LLM_THREADS",
        0,
        check=non_negative,
        doc="CPU threads per slot; 0: the usable CPUs less one (at least one), divided by the slots",
    )
    max_queue: int = env(
        "RAGPLANE_LLM_MAX_QUEUE",
        16,
        check=non_negative,
        doc="requests that may wait for a slot; more get RESOURCE_EXHAUSTED",
    )
    batch_tokens: int = env(
        "RAGPLANE_LLM_BATCH_TOKENS", 256, check=positive, doc="prompt tokens per llama.cpp decode call"
    )

    def threads_per_slot(self) -> int:
        """Threads each slot uses.

        By default one CPU is left to the event loop and to neighbours: llama.cpp's threads wait for each other
        at every layer, so on a busy or oversubscribed host one thread more than the free cores slows decoding
        many times over (measured in the README).
        """
        if self.threads:
            return self.threads
        return max(1, (usable_cpus() - 1) // self.slots)


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (containers)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


def load() -> ModelServerSettings:
    """Settings from the environment (raises SettingsError naming the variable)."""
    return load_settings(ModelServerSettings)
