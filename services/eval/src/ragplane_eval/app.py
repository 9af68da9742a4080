"""The eval service's core wiring: judge, offline runner, online evaluator, report store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from ragplane.runtime.errors import Internal, InvalidArgument, Unavailable
from ragplane.runtime.logs import get_logger
from ragplane.runtime.telemetry import STAGE_LATENCY
from ragplane.v1 import eval_pb2_grpc
from ragplane_eval import metrics, scoring
from ragplane_eval.config import Settings
from ragplane_eval.judge import EmbeddingJudge, EmbeddingJudgeConfig, Judge, JudgeError
from ragplane_eval.judge_v2 import V2Judge
from ragplane_eval.online import OnlineEvaluator
from ragplane_eval.reports import ReportStore, Row
from ragplane_eval.runner import Progress, Runner, RunRequest
from ragplane_eval.servicer import EvalServiceServicer

log = get_logger(__name__)


def build_judge(settings: Settings) -> Judge:
    """The judge the settings select (nothing is loaded or connected until ``warm_up``)."""
    if settings.judge == "v2":
        return V2Judge(settings.judge_model, settings.judge_addr, chat_format=settings.judge_template,
                       max_tokens=settings.judge_max_tokens, timeout_s=settings.judge_timeout_s)
    return EmbeddingJudge(EmbeddingJudgeConfig(support_threshold=settings.support_threshold,
                                               context_threshold=settings.context_threshold,
                                               relevance_threshold=settings.relevance_threshold))


@dataclass
class AnswerEvaluation:
    """Scores of one answer; absent values did not apply."""

    judge: str
    scores: dict[str, float] = field(default_factory=dict)


class EvalApp:
    name = "eval"

    def __init__(self, settings: Settings, judge: Judge | None = None) -> None:
        """Build the core; nothing is loaded or connected until ``start``.

        Args:
            settings: validated settings.
            judge: a judge to use instead of the configured one; the caller owns it (it is not closed here).
        """
        self.settings = settings
        self._owns_judge = judge is None
        self.judge = judge or build_judge(settings)
        self.store = ReportStore(settings.reports_dir)
        self.runner = Runner(settings, self.judge, self.store)
        self.online = OnlineEvaluator(settings, self.judge) if settings.online else None

    def register(self, server: grpc.aio.Server) -> list[str]:
        eval_pb2_grpc.add_EvalServiceServicer_to_server(EvalServiceServicer(self), server)
        return ["ragplane.v1.EvalService"]

    async def start(self) -> None:
        await self.judge.warm_up()
        if self.online is not None:
            await self.online.start()

    async def stop(self) -> None:
        if self.online is not None:
            await self.online.stop()
        if self._owns_judge:
            await self.judge.close()

    async def evaluate_answer(self, *, question: str, answer: str, contexts: Sequence[tuple[str, str]],
                              reference_answers: Sequence[str], relevant_doc_ids: Sequence[str]) -> AnswerEvaluation:
        """Triad scores from the judge, EM/F1 against references, context precision/recall against relevant ids.

        Args:
            contexts: (text, doc_id) of each context chunk, in prompt order.

        Raises:
            InvalidArgument: question is empty.
            Unavailable: the judge model is unreachable for now.
            Internal: the judge gave no usable judgement.
        """
        if not question.strip():
            raise InvalidArgument("question", "must not be empty")
        try:
            with STAGE_LATENCY.labels("eval", "judge").time():
                scores = await self.judge.score(question, answer, [text for text, _ in contexts])
        except JudgeError as exc:
            if exc.retriable:
                raise Unavailable(f"judge: {exc}") from None
            raise Internal(f"judge: {exc}") from None
        result = AnswerEvaluation(self.judge.name)
        for name in ("faithfulness", "answer_relevance", "context_relevance"):
            value = getattr(scores, name)
            if value is not None:
                result.scores[name] = value
        if reference_answers:
            result.scores["exact_match"] = scoring.exact_match(answer, reference_answers)
            result.scores["f1"] = scoring.token_f1(answer, reference_answers)
        if relevant_doc_ids and contexts:
            relevant = set(relevant_doc_ids)
            doc_ids = [doc_id for _, doc_id in contexts]
            result.scores["context_precision"] = sum(1 for d in doc_ids if d in relevant) / len(doc_ids)
            result.scores["context_recall"] = len(relevant.intersection(doc_ids)) / len(relevant)
        return result

    async def run_dataset(self, request: RunRequest, caller_tenant: str) -> AsyncIterator[Progress | Row | dict[str, Any]]:
        """Stream a dataset run (see ``Runner.run``), counting its outcome."""
        outcome = "error"
        try:
            async for item in self.runner.run(request, caller_tenant):
                if isinstance(item, dict):
                    outcome = "ok"
                yield item
        except (asyncio.CancelledError, GeneratorExit):
            outcome = "cancelled"
            raise
        finally:
            metrics.RUNS.labels(outcome).inc()
