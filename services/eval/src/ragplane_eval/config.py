"""Settings of the eval service, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ragplane.runtime.kafka import TOPIC_ANSWERS, TOPIC_EVALS
from ragplane.runtime.services import local_address
from ragplane.runtime.settings import (
    CommonSettings,
    SettingsError,
    env,
    fraction,
    load_settings,
    one_of,
    parse_csv,
    parse_hostport,
    positive,
)

JUDGES = ("embedding", "v2")
TEMPLATES = ("chatml", "llama3", "raw")
CORPUS_MODES = ("full", "articles")


def _default_data_dir() -> str:
    return os.path.join(os.path.expanduser("~"), ".ragplane", "data")


@dataclass(frozen=True)
class Settings(CommonSettings):
    """Eval service settings. Peer addresses default to the local stack's ports."""

    data_dir: str = env(
        "RAGPLANE_DATA_DIR", "", doc="state folder; reports go to <data_dir>/eval (default ~/.ragplane/data)"
    )
    orchestrator_addr: str = env(
        "RAGPLANE_ORCHESTRATOR_ADDR",
        local_address("orchestrator"),
        parse=parse_hostport,
        doc="RagService (Ask) for offline runs",
    )
    ingest_addr: str = env(
        "RAGPLANE_INGEST_ADDR",
        local_address("ingest"),
        parse=parse_hostport,
        doc="IngestService, to load a dataset's corpus",
    )
    embed_addr: str = env(
        "RAGPLANE_EMBED_ADDR",
        local_address("embed"),
        parse=parse_hostport,
        doc="EmbedService, to embed questions for the retrieval metrics",
    )
    retrieve_addr: str = env(
        "RAGPLANE_RETRIEVE_ADDR",
        local_address("retrieve"),
        parse=parse_hostport,
        doc="RetrieveService (Search) for the retrieval metrics",
    )
    rerank_addr: str = env(
        "RAGPLANE_RERANK_ADDR",
        local_address("rerank"),
        parse=parse_hostport,
        doc="RerankService for the hybrid+rerank metrics",
    )
    # Judge.
    judge: str = env(
        "RAGPLANE_EVAL_JUDGE",
        "embedding",
        check=one_of(*JUDGES),
        doc="embedding (offline sentence-embedding + lexical claim support) or v2 (an LLM judge "
        "over the v2 inference protocol)",
    )
    judge_model: str = env(
        "RAGPLANE_EVAL_JUDGE_MODEL", "", doc="v2 model name of the LLM judge; must differ from the generator"
    )
    judge_addr: str = env(
        "RAGPLANE_EVAL_JUDGE_ADDR",
        local_address("modelserver"),
        parse=parse_hostport,
        doc="host:port of the v2 (gRPC) server serving the judge model",
    )
    judge_template: str = env(
        "RAGPLANE_EVAL_JUDGE_TEMPLATE",
        "chatml",
        check=one_of(*TEMPLATES),
        doc="chat template of the judge model (chatml: Qwen2.5, SmolLM2)",
    )
    judge_max_tokens: int = env(
        "RAGPLANE_EVAL_JUDGE_MAX_TOKENS", 160, check=positive, doc="most tokens the LLM judge may write per judgement"
    )
    judge_timeout_s: float = env(
        "RAGPLANE_EVAL_JUDGE_TIMEOUT_S", 60.0, check=positive, doc="deadline of one LLM judge call"
    )
    generator_model: str = env(
        "RAGPLANE_LLM_MODEL_NAME", "ensemble", doc="the generator's v2 model name (the judge must not be the generator)"
    )
    generator_addr: str = env(
        "RAGPLANE_MODEL_ADDR",
        local_address("modelserver"),
        parse=parse_hostport,
        doc="the generator's v2 server address",
    )
    support_threshold: float = env(
        "RAGPLANE_EVAL_SUPPORT_THRESHOLD",
        0.64,
        check=fraction,
        doc="embedding judge: a claim is supported when its support score (half "
        "lexical coverage, half semantic similarity) reaches this",
    )
    context_threshold: float = env(
        "RAGPLANE_EVAL_CONTEXT_THRESHOLD",
        0.52,
        check=fraction,
        doc="embedding judge: a passage is relevant when its best sentence's similarity to the question reaches this",
    )
    relevance_threshold: float = env(
        "RAGPLANE_EVAL_RELEVANCE_THRESHOLD",
        0.45,
        check=fraction,
        doc="embedding judge: an answer addresses the question when its similarity to it reaches this",
    )
    # Offline runs.
    concurrency: int = env(
        "RAGPLANE_EVAL_CONCURRENCY", 4, check=positive, doc="questions in flight at once during a run"
    )
    top_k: int = env("RAGPLANE_EVAL_TOP_K", 20, check=positive, doc="candidates retrieved per question")
    top_n: int = env("RAGPLANE_EVAL_TOP_N", 5, check=positive, doc="passages kept after rerank (the context)")
    corpus: str = env(
        "RAGPLANE_EVAL_CORPUS",
        "full",
        check=one_of(*CORPUS_MODES),
        doc="full: ingest the whole corpus; articles: only the articles of the sampled questions",
    )
    ask_timeout_s: float = env(
        "RAGPLANE_EVAL_ASK_TIMEOUT_S", 180.0, check=positive, doc="deadline of one orchestrator Ask during a run"
    )
    call_timeout_s: float = env(
        "RAGPLANE_EVAL_CALL_TIMEOUT_S", 30.0, check=positive, doc="deadline of one embed/search/rerank/status call"
    )
    index_timeout_s: float = env(
        "RAGPLANE_EVAL_INDEX_TIMEOUT_S", 1800.0, check=positive, doc="how long a run waits for its corpus to be indexed"
    )
    dataset_dirs: tuple[str, ...] = env(
        "RAGPLANE_EVAL_DATASET_DIRS",
        (),
        parse=parse_csv,
        doc="folders RunDataset may read datasets from: <folder>/<tenant>/ is the tenant's, files directly in a "
        "folder are shared (empty: <data_dir>/datasets and the CLI's dataset cache, ~/.cache/ragplane/datasets)",
    )
    dataset_max_bytes: int = env(
        "RAGPLANE_EVAL_DATASET_MAX_BYTES",
        256 * 1024 * 1024,
        check=positive,
        doc="largest dataset or corpus file RunDataset reads",
    )
    runs_per_tenant: int = env(
        "RAGPLANE_EVAL_RUNS_PER_TENANT",
        1,
        check=positive,
        doc="RunDataset calls one tenant may have in flight; one more is RESOURCE_EXHAUSTED with retry-after",
    )
    evaluations_per_tenant: int = env(
        "RAGPLANE_EVAL_EVALUATIONS_PER_TENANT",
        8,
        check=positive,
        doc="EvaluateAnswer calls one tenant may have in flight; one more is RESOURCE_EXHAUSTED with retry-after",
    )
    # Online evaluation.
    online: bool = env("RAGPLANE_EVAL_ONLINE", True, doc="consume answers and score a sample of them")
    sample_rate: float = env(
        "RAGPLANE_EVAL_SAMPLE_RATE",
        0.1,
        check=fraction,
        doc="share of successful answers scored online",
    )
    error_sample_rate: float = env(
        "RAGPLANE_EVAL_ERROR_SAMPLE_RATE",
        0.25,
        check=fraction,
        doc="share of failed or guardrail-blocked answers scored online (only their context is judged); "
        "rejected requests cost a caller nothing, so scoring all of them would let a flood drive the judge",
    )
    window: int = env(
        "RAGPLANE_EVAL_WINDOW",
        100,
        check=positive,
        doc="scored answers per tenant in the rolling means exported as gauges",
    )
    answers_topic: str = env("RAGPLANE_EVAL_ANSWERS_TOPIC", TOPIC_ANSWERS, doc="topic of AnswerEvents")
    evals_topic: str = env("RAGPLANE_EVAL_EVALS_TOPIC", TOPIC_EVALS, doc="topic EvalEvents are published to")
    consumer_group: str = env(
        "RAGPLANE_EVAL_CONSUMER_GROUP", "ragplane-eval-online", doc="consumer group of the online evaluator"
    )

    @property
    def reports_dir(self) -> str:
        return os.path.join(self.data_dir or _default_data_dir(), "eval")

    @property
    def dataset_roots(self) -> tuple[str, ...]:
        """The dataset folders: RAGPLANE_EVAL_DATASET_DIRS, else the state folder's and the CLI cache's."""
        if self.dataset_dirs:
            return self.dataset_dirs
        # The folder `ragplane eval run squad-dev` fetches into (ragplane.cli.datasets.default_cache_dir).
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return (
            os.path.join(self.data_dir or _default_data_dir(), "datasets"),
            os.path.join(cache, "ragplane", "datasets"),
        )

    def __post_init__(self) -> None:
        """Checks across settings, run whenever Settings are built.

        Raises:
            SettingsError: naming the variable (a v2 judge without a model, or the judge being the generator).
        """
        if self.judge == "v2":
            if not self.judge_model:
                raise SettingsError("RAGPLANE_EVAL_JUDGE_MODEL: required when RAGPLANE_EVAL_JUDGE=v2")
            if self.judge_model == self.generator_model and self.judge_addr == self.generator_addr:
                raise SettingsError(
                    f"RAGPLANE_EVAL_JUDGE_MODEL: the judge must differ from the generator, but "
                    f"{self.judge_model!r} at {self.judge_addr} is RAGPLANE_LLM_MODEL_NAME at RAGPLANE_MODEL_ADDR"
                )
        if self.top_n > self.top_k:
            raise SettingsError(
                f"RAGPLANE_EVAL_TOP_N: must be <= RAGPLANE_EVAL_TOP_K ({self.top_k}), but got {self.top_n}"
            )


def load() -> Settings:
    """Settings from the environment, validated (raises SettingsError naming the variable)."""
    return load_settings(Settings)
