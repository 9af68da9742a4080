"""gRPC servicer of the eval service: proto <-> domain conversion only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from ragplane.runtime.context import current_tenant
from ragplane.v1 import common_pb2, eval_pb2, eval_pb2_grpc
from ragplane_eval.evaluator import AnswerEvaluator, counted_run
from ragplane_eval.limits import TenantConcurrency
from ragplane_eval.reports import ReportStore, Row
from ragplane_eval.runner import Progress, Runner, RunRequest


def _timestamp(iso: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    if iso:
        stamp.FromDatetime(datetime.fromisoformat(iso))
    return stamp


def report_message(report: dict[str, Any]) -> eval_pb2.EvalReport:
    """An EvalReport from a stored report."""
    return eval_pb2.EvalReport(
        run_id=report["run_id"],
        dataset=report["dataset"],
        questions=report["questions"],
        metrics=[eval_pb2.Metric(name=name, value=value) for name, value in report["metrics"].items()],
        started_at=_timestamp(report.get("started_at", "")),
        finished_at=_timestamp(report.get("finished_at", "")),
        # Derived, not stored: reports written before held the server's absolute path here.
        rows_path=ReportStore.rows_name(report["run_id"]),
        tenant=report.get("tenant", ""),
        retrieval_only=report.get("retrieval_only", False),
        judge=report.get("judge", ""),
    )


def row_message(row: Row) -> eval_pb2.QuestionResult:
    return eval_pb2.QuestionResult(
        question_id=row.question_id,
        question=row.question,
        reference_answers=row.reference_answers,
        relevant_doc_ids=row.relevant_doc_ids,
        answer=row.answer,
        blocked=row.blocked,
        retrieved=[eval_pb2.RankedDocuments(mode=mode, doc_ids=ids) for mode, ids in row.retrieved.items()],
        metrics=[eval_pb2.Metric(name=name, value=value) for name, value in row.metrics.items()],
        error=row.error,
        error_status=row.error_status(),
        cited_doc_ids=row.cited_doc_ids,
        request_id=row.request_id,
    )


# The retry-after hints: about how long one call of each takes.
RUN_RETRY_AFTER_S = 60.0
EVALUATION_RETRY_AFTER_S = 1.0


class EvalServiceServicer(eval_pb2_grpc.EvalServiceServicer):
    """``ragplane.v1.EvalService`` over the evaluator, the dataset runner and the report store.

    Args:
        evaluator: scores single answers.
        runner: runs datasets.
        store: holds reports.
        runs_per_tenant: RunDataset calls in flight per tenant.
        evaluations_per_tenant: EvaluateAnswer calls in flight per tenant.
    """

    def __init__(
        self,
        *,
        evaluator: AnswerEvaluator,
        runner: Runner,
        store: ReportStore,
        runs_per_tenant: int = 1,
        evaluations_per_tenant: int = 8,
    ) -> None:
        self.evaluator = evaluator
        self.runner = runner
        self.store = store
        self.runs = TenantConcurrency("RunDataset", runs_per_tenant, RUN_RETRY_AFTER_S)
        self.evaluations = TenantConcurrency("EvaluateAnswer", evaluations_per_tenant, EVALUATION_RETRY_AFTER_S)

    async def EvaluateAnswer(
        self, request: eval_pb2.EvaluateAnswerRequest, context: grpc.aio.ServicerContext
    ) -> eval_pb2.EvaluateAnswerResponse:
        with self.evaluations.hold(current_tenant()):
            result = await self.evaluator.evaluate(
                question=request.question,
                answer=request.answer,
                contexts=[(chunk.text, chunk.provenance.doc_id) for chunk in request.context],
                reference_answers=list(request.reference_answers),
                relevant_doc_ids=list(request.relevant_doc_ids),
            )
        scores = common_pb2.AnswerScores(judge=result.judge)
        for name, value in result.scores.items():
            setattr(scores, name, value)
        return eval_pb2.EvaluateAnswerResponse(scores=scores)

    async def RunDataset(
        self, request: eval_pb2.RunDatasetRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[eval_pb2.RunDatasetResponse]:
        run = RunRequest(
            dataset_path=request.dataset_path,
            limit=request.limit,
            seed=request.seed,
            retrieval_only=request.retrieval_only,
            skip_ingest=request.skip_ingest,
        )
        tenant = current_tenant()
        with self.runs.hold(tenant):
            async for item in counted_run(self.runner, run, tenant):
                if isinstance(item, Progress):
                    yield eval_pb2.RunDatasetResponse(
                        progress=eval_pb2.RunProgress(phase=item.phase, done=item.done, total=item.total)
                    )
                elif isinstance(item, Row):
                    yield eval_pb2.RunDatasetResponse(result=row_message(item))
                else:
                    yield eval_pb2.RunDatasetResponse(report=report_message(item))

    async def GetReport(
        self, request: eval_pb2.GetReportRequest, context: grpc.aio.ServicerContext
    ) -> eval_pb2.GetReportResponse:
        report = self.store.load(request.run_id, current_tenant())
        return eval_pb2.GetReportResponse(report=report_message(report))
