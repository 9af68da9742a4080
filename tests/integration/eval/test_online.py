"""Online evaluation against a real broker: AnswerEvents in, EvalEvents out for the sample and every error,
Prometheus gauges and counters moved. The offline judge runs with its real model."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from kafka import KafkaConsumer
from prometheus_client import REGISTRY
from support.servers import serve

from ragplane.runtime.kafka import EventProducer
from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, events_pb2
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings
from ragplane_eval.online import sampling_reason

pytestmark = pytest.mark.integration

N = 200
ERRORS = 20
RATE = 0.1
QUESTION = "Which NFL team represented the AFC at Super Bowl 50?"
PASSAGE = (
    "The American Football Conference (AFC) champion Denver Broncos defeated the National Football "
    "Conference (NFC) champion Carolina Panthers 24-10 to earn their third Super Bowl title."
)


def _answer_event(tenant: str, index: int) -> events_pb2.AnswerEvent:
    event = events_pb2.AnswerEvent(
        request_id=uuid.uuid4().hex,
        tenant=tenant,
        query=QUESTION,
        context=[common_pb2.Chunk(chunk_id="c1", text=PASSAGE, provenance=common_pb2.Provenance(doc_id="sb50/0"))],
        answer="The Denver Broncos represented the AFC [1].",
        model="test",
    )
    if index < ERRORS // 2:
        event.error_code = "DEADLINE_EXCEEDED"
        event.answer = ""
    elif index < ERRORS:
        event.output_verdict.action = common_pb2.GUARDRAIL_ACTION_BLOCK
    return event


def _collect(bootstrap: str, topic: str, wanted: int, timeout_s: float) -> list[events_pb2.EvalEvent]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    received: dict[str, tuple[str, events_pb2.EvalEvent]] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(received) < wanted and time.monotonic() < deadline:
            for record in consumer:
                event = events_pb2.EvalEvent.FromString(record.value)
                received[event.request_id] = (record.key.decode(), event)
                if len(received) >= wanted:
                    break
    finally:
        consumer.close()
    keys_ok = all(key == f"{event.tenant}/{event.request_id}" for key, event in received.values())
    assert keys_ok, "EvalEvents are keyed <tenant>/<request_id>"
    return [event for _, event in received.values()]


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_about_the_sample_rate_plus_every_error_is_scored_and_the_gauges_move(
    kafka_bootstrap, embedding_judge, tmp_path
):
    suffix = uuid.uuid4().hex[:8]
    tenant = f"online-{suffix}"
    settings = load_settings(
        Settings,
        {
            "RAGPLANE_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "RAGPLANE_EVAL_ANSWERS_TOPIC": f"test.answers.{suffix}",
            "RAGPLANE_EVAL_EVALS_TOPIC": f"test.evals.{suffix}",
            "RAGPLANE_EVAL_CONSUMER_GROUP": f"eval-test-{suffix}",
            "RAGPLANE_EVAL_SAMPLE_RATE": str(RATE),
            "RAGPLANE_EVAL_ERROR_SAMPLE_RATE": "1.0",
            "RAGPLANE_DATA_DIR": str(tmp_path),
            "RAGPLANE_KAFKA_PARTITIONS": "2",
        },
        allow_dev_key=True,
    )
    assert REGISTRY.get_sample_value("ragplane_eval_faithfulness", {"tenant": tenant}) is None
    async with serve(EvalApp(settings, judge=embedding_judge), settings, grace_s=5, metrics=True):
        events = [_answer_event(tenant, i) for i in range(N)]
        expected = {e.request_id: sampling_reason(e, RATE, 1.0) for e in events if sampling_reason(e, RATE, 1.0)}
        producer = EventProducer(settings, "eval-online-test")
        await asyncio.to_thread(
            producer.send_many, settings.answers_topic, [(f"{tenant}/{e.request_id}", e) for e in events]
        )
        producer.close()
        received = await asyncio.to_thread(_collect, kafka_bootstrap, settings.evals_topic, len(expected), 180.0)

    sampled = sum(1 for reason in expected.values() if reason == "sample")
    # 180 successes at 10%: 18 expected, binomial sd ~4; the ids are random, so allow a wide band.
    assert 4 <= sampled <= 40, sampled
    assert {e.request_id: e.reason for e in received} == expected
    errors = [e for e in received if e.reason == "error"]
    assert len(errors) == ERRORS
    for event in received:
        assert event.tenant == tenant and event.scores.judge == "embedding:all-minilm-l6-v2"
        assert 0.0 <= event.scores.context_relevance <= 1.0
        if event.reason == "sample":
            assert event.scores.HasField("faithfulness") and event.scores.HasField("answer_relevance")
        else:  # no real answer to judge for a failed or blocked request
            assert not event.scores.HasField("faithfulness") and not event.scores.HasField("answer_relevance")

    labels = {"tenant": tenant}
    assert 0.0 < _sample("ragplane_eval_faithfulness", labels) <= 1.0
    assert 0.0 < _sample("ragplane_eval_answer_relevance", labels) <= 1.0
    assert 0.0 < _sample("ragplane_eval_context_relevance", labels) <= 1.0
    assert _sample("ragplane_eval_online_sampled_total", {**labels, "reason": "sample"}) == sampled
    assert _sample("ragplane_eval_online_sampled_total", {**labels, "reason": "error"}) == ERRORS
    assert _sample("ragplane_eval_online_skipped_total", labels) == N - ERRORS - sampled
