"""Scoring of one answer and counted dataset runs: what the eval RPCs do, independent of gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragplane.runtime.errors import Internal, InvalidArgument, Unavailable
from ragplane.runtime.telemetry import STAGE_LATENCY
from ragplane_eval import metrics, scoring
from ragplane_eval.judge import Judge, JudgeError
from ragplane_eval.reports import Row
from ragplane_eval.runner import Progress, Runner, RunRequest


@dataclass
class AnswerEvaluation:
    """Scores of one answer; absent values did not apply."""

    judge: str
    scores: dict[str, float] = field(default_factory=dict)


class AnswerEvaluator:
    """Scores answers with a judge (warmed up by the app before any call arrives)."""

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    async def evaluate(
        self,
        *,
        question: str,
        answer: str,
        contexts: Sequence[tuple[str, str]],
        reference_answers: Sequence[str],
        relevant_doc_ids: Sequence[str],
    ) -> AnswerEvaluation:
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


async def counted_run(
    runner: Runner, request: RunRequest, caller_tenant: str
) -> AsyncIterator[Progress | Row | dict[str, Any]]:
    """Stream a dataset run (see ``Runner.run``), counting its outcome."""
    outcome = "error"
    try:
        async for item in runner.run(request, caller_tenant):
            if isinstance(item, dict):
                outcome = "ok"
            yield item
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    finally:
        metrics.RUNS.labels(outcome).inc()
