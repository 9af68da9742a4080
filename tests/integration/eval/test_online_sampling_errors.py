"""A flood of rejected requests does not drive the online judge: errors are sampled at their own rate.

Every rejected request (rate-limited, blocked, failed) becomes an AnswerEvent. 300 of them go through the
real broker to the online evaluator, then one successful answer sampled for sure as a marker (one partition,
so it is handled after all of them). Only the errors whose request id falls under the error rate are scored.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import pytest
from kafka import KafkaConsumer
from support.servers import serve

from ragplane.runtime.kafka import EventProducer
from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, events_pb2
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings
from ragplane_eval.online import sample_fraction

pytestmark = pytest.mark.integration

FLOOD = 300
ERROR_RATE = 0.2
SAMPLE_RATE = 0.1


def _rejected(tenant: str, index: int) -> events_pb2.AnswerEvent:
    event = events_pb2.AnswerEvent(request_id=uuid.uuid4().hex, tenant=tenant, query=f"question {index}")
    if index % 2:
        event.error_status.code = 8  # RESOURCE_EXHAUSTED: rate limited
        event.error_status.message = "rate limited"
    else:
        event.input_verdict.action = common_pb2.GUARDRAIL_ACTION_BLOCK
    return event


def _marker(tenant: str) -> events_pb2.AnswerEvent:
    ids = (uuid.uuid4().hex for _ in itertools.count())
    request_id = next(i for i in ids if sample_fraction(i) < SAMPLE_RATE)
    passage = common_pb2.Chunk(text="Warsaw stands on the Vistula.", provenance=common_pb2.Provenance(doc_id="w"))
    return events_pb2.AnswerEvent(
        request_id=request_id, tenant=tenant, query="Where is Warsaw?", answer="On the Vistula.", context=[passage]
    )


def _read_until(bootstrap: str, topic: str, marker: str, timeout_s: float) -> list[events_pb2.EvalEvent]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=[bootstrap], group_id=None, auto_offset_reset="earliest", consumer_timeout_ms=1000
    )
    received: list[events_pb2.EvalEvent] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not any(e.request_id == marker for e in received):
            received.extend(events_pb2.EvalEvent.FromString(record.value) for record in consumer)
    finally:
        consumer.close()
    return received


async def test_a_flood_of_rejected_requests_is_scored_at_the_error_rate_not_one_for_one(
    kafka_bootstrap, embedding_judge, tmp_path
):
    suffix = uuid.uuid4().hex[:8]
    tenant = f"flood-{suffix}"
    settings = load_settings(
        Settings,
        {
            "RAGPLANE_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "RAGPLANE_EVAL_ANSWERS_TOPIC": f"test.answers.{suffix}",
            "RAGPLANE_EVAL_EVALS_TOPIC": f"test.evals.{suffix}",
            "RAGPLANE_EVAL_CONSUMER_GROUP": f"eval-test-{suffix}",
            "RAGPLANE_EVAL_SAMPLE_RATE": str(SAMPLE_RATE),
            "RAGPLANE_EVAL_ERROR_SAMPLE_RATE": str(ERROR_RATE),
            "RAGPLANE_DATA_DIR": str(tmp_path),
            "RAGPLANE_KAFKA_PARTITIONS": "1",
        },
        allow_dev_key=True,
    )
    flood = [_rejected(tenant, i) for i in range(FLOOD)]
    marker = _marker(tenant)
    async with serve(EvalApp(settings, judge=embedding_judge), settings, grace_s=5):
        producer = EventProducer(settings, "eval-flood-test")
        records = [(f"{tenant}/{e.request_id}", e) for e in [*flood, marker]]
        await asyncio.to_thread(producer.send_many, settings.answers_topic, records)
        producer.close()
        received = await asyncio.to_thread(_read_until, kafka_bootstrap, settings.evals_topic, marker.request_id, 180)

    scored = {e.request_id for e in received if e.reason == "error"}
    expected = {e.request_id for e in flood if sample_fraction(e.request_id) < ERROR_RATE}
    assert marker.request_id in {e.request_id for e in received}
    assert scored == expected
    # 300 at 20%: 60 expected, binomial sd ~7; the ids are random, so the band is wide.
    assert 20 <= len(scored) <= 110, len(scored)
