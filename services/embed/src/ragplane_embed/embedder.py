"""The embedding core shared by the Embed RPC and the chunks consumer: windowed dense + sparse."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragplane_embed import metrics
from ragplane_embed.config import Settings
from ragplane_embed.dense import DenseEncoder, InProcessEncoder
from ragplane_embed.sparse import SparseEncoder, SparseVec
from ragplane_embed.windows import Windower, pool


@dataclass
class Embeddings:
    """Per text: a dense unit vector (or None) and a sparse vector (or None)."""

    dense: np.ndarray | None
    sparse: list[SparseVec] | None


class Embedder:
    """Windowed dense embeddings and BM25 sparse vectors.

    The dense model runs under a lock, one model batch at a time, so the consumer's large batches and
    the RPC's queries interleave at batch boundaries instead of running two forward passes at once (the
    tokenizer is not reentrant, and two passes on 2 cores only slow each other down).

    Args:
        dense: the dense encoder backend.
        sparse: the sparse encoder.
        windower: splits long texts into encoder windows.
        model_batch_size: windows per locked forward pass.
    """

    def __init__(
        self, dense: DenseEncoder, sparse: SparseEncoder, windower: Windower, model_batch_size: int = 32
    ) -> None:
        self.dense = dense
        self.sparse = sparse
        self.windower = windower
        self.model_batch_size = model_batch_size
        self._lock = threading.Lock()

    @property
    def dense_model(self) -> str:
        return self.dense.model_name

    @property
    def dimensions(self) -> int:
        return self.dense.dimensions

    @property
    def sparse_model(self) -> str:
        return self.sparse.model_name

    def start(self) -> None:
        self.dense.start()

    def close(self) -> None:
        self.dense.close()

    def embed_dense(self, texts: Sequence[str], source: str = "rpc") -> np.ndarray:
        """(len(texts), d) unit vectors; texts longer than one window are mean-pooled over windows."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        started = time.perf_counter()
        windowed = self.windower.split(texts)
        windows = windowed.windows
        # Batches of similar length pad less: encode in length order, then put the rows back.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        encoded = np.empty((len(windows), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), self.model_batch_size):
            rows = order[start : start + self.model_batch_size]
            with self._lock:
                encoded[rows] = self.dense.encode([windows[i] for i in rows])
        vectors = pool(encoded, windowed.spans)
        elapsed = time.perf_counter() - started
        metrics.BATCH_SIZE.labels(source).observe(len(texts))
        metrics.EMBED_LATENCY.labels(source).observe(elapsed)
        metrics.TEXTS.labels(source).inc(len(texts))
        metrics.WINDOWS.labels(source).inc(len(windowed.windows))
        metrics.THROUGHPUT.labels(source).set(len(texts) / max(elapsed, 1e-9))
        return vectors

    def embed(
        self, texts: Sequence[str], *, query: bool, dense: bool = True, sparse: bool = True, source: str = "rpc"
    ) -> Embeddings:
        """Dense and/or sparse vectors of ``texts`` (sparse: query weights if ``query`` else BM25 weights)."""
        dense_vectors = self.embed_dense(texts, source) if dense else None
        sparse_vectors = None
        if sparse:
            encode = self.sparse.encode_query if query else self.sparse.encode_document
            sparse_vectors = [encode(t) for t in texts]
        return Embeddings(dense_vectors, sparse_vectors)


def build_embedder(settings: Settings) -> Embedder:
    """The configured embedder; nothing heavy is loaded until ``start()``."""
    if settings.backend == "triton":
        from ragplane_embed.triton import TritonEncoder

        dense: DenseEncoder = TritonEncoder(
            settings.triton_url,
            settings.triton_model,
            settings.triton_input,
            settings.triton_output,
            settings.triton_dims,
            timeout_s=settings.triton_timeout_s,
            batch_size=settings.model_batch_size,
            settings=settings,
        )
    else:
        dense = InProcessEncoder(
            settings.device, settings.torch_threads, settings.model_batch_size, settings.window_tokens
        )
    if not settings.tokenizer_path:
        raise ValueError("RAGPLANE_EMBED_TOKENIZER_PATH: required (no packaged model to take it from)")
    windower = Windower(settings.tokenizer_path, settings.window_tokens, settings.window_overlap)
    sparse = SparseEncoder(settings.sparse_k1, settings.sparse_b, settings.sparse_avg_len)
    return Embedder(dense, sparse, windower, settings.model_batch_size)
