"""The eval service's core wiring: judge, offline runner, online evaluator, report store."""

from __future__ import annotations

import grpc

from ragplane.runtime.kafka import ConsumerRunner
from ragplane.runtime.logs import get_logger
from ragplane.v1 import eval_pb2_grpc
from ragplane_eval.config import Settings
from ragplane_eval.evaluator import AnswerEvaluator
from ragplane_eval.judge import EmbeddingJudge, EmbeddingJudgeConfig, Judge
from ragplane_eval.judge_v2 import V2Judge
from ragplane_eval.online import OnlineEvaluator
from ragplane_eval.reports import ReportStore
from ragplane_eval.runner import Runner
from ragplane_eval.servicer import EvalServiceServicer

log = get_logger(__name__)


def build_judge(settings: Settings) -> Judge:
    """The judge the settings select (nothing is loaded or connected until ``warm_up``)."""
    if settings.judge == "v2":
        return V2Judge(
            settings.judge_model,
            settings.judge_addr,
            chat_format=settings.judge_template,
            max_tokens=settings.judge_max_tokens,
            timeout_s=settings.judge_timeout_s,
            settings=settings,
        )
    return EmbeddingJudge(
        EmbeddingJudgeConfig(
            support_threshold=settings.support_threshold,
            context_threshold=settings.context_threshold,
            relevance_threshold=settings.relevance_threshold,
        )
    )


class EvalApp:
    """Answer scoring, dataset runs and reports behind ``ragplane.v1.EvalService``, plus the online evaluator."""

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
        self.evaluator = AnswerEvaluator(self.judge)
        self.online = OnlineEvaluator(settings, self.judge) if settings.online else None

    def register(self, server: grpc.aio.Server) -> list[str]:
        servicer = EvalServiceServicer(
            evaluator=self.evaluator,
            runner=self.runner,
            store=self.store,
            runs_per_tenant=self.settings.runs_per_tenant,
            evaluations_per_tenant=self.settings.evaluations_per_tenant,
        )
        eval_pb2_grpc.add_EvalServiceServicer_to_server(servicer, server)
        return ["ragplane.v1.EvalService"]

    async def start(self) -> None:
        await self.judge.warm_up()
        if self.online is not None:
            await self.online.start()

    def liveness(self) -> list[ConsumerRunner]:
        """The online evaluator's consumer once started: the runtime reports NOT_SERVING while it is down."""
        return self.online.liveness() if self.online is not None else []

    async def stop(self) -> None:
        if self.online is not None:
            await self.online.stop()
        if self._owns_judge:
            await self.judge.close()
