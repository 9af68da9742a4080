"""Online evaluation: consume AnswerEvents, score a sample, publish EvalEvents, export rolling gauges.

Which answers are scored is decided by the request id alone, so a replayed or re-delivered event gets the same
decision on every consumer: an answer is sampled when ``sha256(request_id)`` read as a fraction of 2^64 is
below the sample rate. Failed answers (``error_status`` set) and answers a guardrail blocked are sampled the
same way at their own rate (reason "error"), not always: every rejected request (rate-limited ones included)
becomes an AnswerEvent, so scoring them all would let a flood of cheap rejections drive the judge. For those
only the context is judged, since there is no real answer to judge.

The EvalEvent of a batch is acknowledged by the broker before the batch's offsets are committed
(at-least-once; consumers of ``ragplane.evals.v1`` may see a duplicate, keyed ``<tenant>/<request_id>``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from dataclasses import dataclass

from google.protobuf import timestamp_pb2

from ragplane.runtime.kafka import ConsumerRunner, Envelope, EventProducer, RetriableError, ensure_topics
from ragplane.runtime.logs import get_logger
from ragplane.runtime.telemetry import STAGE_LATENCY
from ragplane.v1 import common_pb2, events_pb2
from ragplane_eval import metrics
from ragplane_eval.config import Settings
from ragplane_eval.judge import Judge, JudgeError, JudgeScores

log = get_logger(__name__)

REASON_SAMPLE = "sample"
REASON_ERROR = "error"


def sample_fraction(request_id: str) -> float:
    """A stable number in [0, 1) derived from the request id."""
    digest = hashlib.sha256(request_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_error(event: events_pb2.AnswerEvent) -> bool:
    """The request failed, or a guardrail blocked the question or the answer."""
    blocked = common_pb2.GUARDRAIL_ACTION_BLOCK
    failed = event.HasField("error_status") or bool(event.error_code)  # error_code: producers before error_status
    return failed or event.input_verdict.action == blocked or event.output_verdict.action == blocked


def sampling_reason(event: events_pb2.AnswerEvent, rate: float, error_rate: float) -> str | None:
    """Why ``event`` is scored: "error" for sampled failed or blocked answers, "sample" for other sampled ones.

    Args:
        event: the answer.
        rate: share of successful answers scored.
        error_rate: share of failed or blocked answers scored.

    Returns:
        The reason, or None when the answer is not scored.
    """
    fraction = sample_fraction(event.request_id)
    if is_error(event):
        return REASON_ERROR if fraction < error_rate else None
    return REASON_SAMPLE if fraction < rate else None


@dataclass
class RollingScores:
    """The last ``window`` values of each triad score per tenant, exported as gauges of their mean."""

    window: int

    def __post_init__(self) -> None:
        self._values: dict[tuple[str, str], deque[float]] = {}

    def add(self, tenant: str, scores: JudgeScores) -> None:
        for name, gauge in metrics.GAUGES.items():
            value = getattr(scores, name)
            if value is None:
                continue
            values = self._values.setdefault((tenant, name), deque(maxlen=self.window))
            values.append(value)
            gauge.labels(tenant).set(sum(values) / len(values))

    def mean(self, tenant: str, name: str) -> float | None:
        values = self._values.get((tenant, name))
        return sum(values) / len(values) if values else None


def _scores_message(scores: JudgeScores | None, judge: str) -> common_pb2.AnswerScores:
    message = common_pb2.AnswerScores(judge=judge)
    if scores is not None:
        for name in ("faithfulness", "answer_relevance", "context_relevance"):
            value = getattr(scores, name)
            if value is not None:
                setattr(message, name, value)
    return message


class OnlineEvaluator:
    """The consumer of ``ragplane.answers.v1`` that publishes ``ragplane.evals.v1``."""

    def __init__(self, settings: Settings, judge: Judge) -> None:
        self.settings = settings
        self.judge = judge
        self.rolling = RollingScores(settings.window)
        self._producer: EventProducer | None = None
        self._consumer: ConsumerRunner | None = None

    async def start(self) -> None:
        """Create the topics if missing and join the consumer group."""
        settings = self.settings
        await asyncio.to_thread(ensure_topics, settings, [settings.answers_topic, settings.evals_topic])
        self._producer = await asyncio.to_thread(EventProducer, settings, "ragplane-eval-online")
        self._consumer = ConsumerRunner(
            settings,
            topic=settings.answers_topic,
            group=settings.consumer_group,
            message_type=events_pb2.AnswerEvent,
            handler=self.handle,
            loop=asyncio.get_running_loop(),
            client_id="ragplane-eval-online",
        )
        self._consumer.start()
        log.info(
            "online evaluation started",
            topic=settings.answers_topic,
            group=settings.consumer_group,
            sample_rate=settings.sample_rate,
            error_sample_rate=settings.error_sample_rate,
        )

    def liveness(self) -> list[ConsumerRunner]:
        """The answers consumer once started (the service's liveness source)."""
        return [self._consumer] if self._consumer is not None else []

    def wait_assigned(self, timeout_s: float = 60.0) -> bool:
        return self._consumer is not None and self._consumer.wait_assigned(timeout_s)

    async def stop(self) -> None:
        """Finish the batch in hand, commit, leave the group, flush the producer."""
        if self._consumer is not None:
            await asyncio.to_thread(self._consumer.stop)
            self._consumer = None
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)
            self._producer = None

    async def handle(self, batch: list[Envelope[events_pb2.AnswerEvent]]) -> None:
        """Score the sampled answers of a batch and publish their EvalEvents (acknowledged before returning).

        Raises:
            RetriableError: the judge is unreachable for now (the batch is retried with backoff).
        """
        assert self._producer is not None
        outgoing: list[tuple[str, events_pb2.EvalEvent]] = []
        scored: list[tuple[str, str, JudgeScores | None]] = []
        skipped: dict[str, int] = {}
        for envelope in batch:
            event = envelope.message
            reason = sampling_reason(event, self.settings.sample_rate, self.settings.error_sample_rate)
            if reason is None:
                skipped[event.tenant] = skipped.get(event.tenant, 0) + 1
                continue
            scores = await self._score(event, reason)
            now = timestamp_pb2.Timestamp()
            now.GetCurrentTime()
            outgoing.append(
                (
                    f"{event.tenant}/{event.request_id}",
                    events_pb2.EvalEvent(
                        request_id=event.request_id,
                        tenant=event.tenant,
                        scores=_scores_message(scores, self.judge.name),
                        reason=reason,
                        produced_at=now,
                    ),
                )
            )
            scored.append((event.tenant, reason, scores))
        if outgoing:
            await asyncio.to_thread(self._producer.send_many, self.settings.evals_topic, outgoing)
        # Counted only once the events are acknowledged, so a retried batch is not counted twice.
        for tenant, count in skipped.items():
            metrics.SKIPPED.labels(tenant).inc(count)
        for tenant, reason, scores in scored:
            metrics.SAMPLED.labels(tenant, reason).inc()
            if scores is None:
                metrics.JUDGE_FAILURES.labels(tenant).inc()
            else:
                self.rolling.add(tenant, scores)

    async def _score(self, event: events_pb2.AnswerEvent, reason: str) -> JudgeScores | None:
        contexts = [chunk.text for chunk in event.context]
        # A failed or blocked request has no real answer: only its context is judged.
        answer = "" if reason == REASON_ERROR else event.answer
        try:
            with STAGE_LATENCY.labels("eval", "online_judge").time():
                scores = await self.judge.score(event.query, answer, contexts)
        except JudgeError as exc:
            if exc.retriable:
                raise RetriableError(str(exc)) from exc
            log.warning("judge failed on a sampled answer", request_id=event.request_id, error=str(exc))
            return None
        if reason == REASON_ERROR:
            scores = JudgeScores(None, None, scores.context_relevance)
        return scores
