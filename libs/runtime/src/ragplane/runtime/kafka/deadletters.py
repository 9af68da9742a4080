"""Dead letters: a poison record goes to ``<topic>.dlq`` as it was, with the failure in ``ragplane-*`` headers."""

from __future__ import annotations

import time
from typing import Any

from ragplane.runtime.kafka.producer import EventProducer
from ragplane.runtime.kafka.topics import dlq_topic
from ragplane.runtime.logs import get_logger
from ragplane.runtime.telemetry import KAFKA_CONSUMED, KAFKA_DLQ

log = get_logger("ragplane.kafka")

ERROR_HEADER = "ragplane-error"


def dead_letter(producer: EventProducer, record: Any, exc: BaseException, group: str) -> None:
    """Produce ``record`` to its topic's DLQ with why and where it failed; returns once acknowledged.

    Raises:
        KafkaError: the DLQ did not acknowledge (the record stays uncommitted; the consumer restarts).
    """
    headers = [(k, v) for k, v in (record.headers or []) if not k.startswith(ERROR_HEADER)]
    headers += [
        (ERROR_HEADER, str(exc)[:2000].encode()),
        ("ragplane-error-type", type(exc).__name__.encode()),
        ("ragplane-original-topic", record.topic.encode()),
        ("ragplane-original-partition", str(record.partition).encode()),
        ("ragplane-original-offset", str(record.offset).encode()),
        ("ragplane-consumer-group", group.encode()),
        ("ragplane-failed-at", str(time.time()).encode()),
    ]
    producer.send_raw(dlq_topic(record.topic), record.key, record.value, headers)
    KAFKA_DLQ.labels(record.topic, group).inc()
    KAFKA_CONSUMED.labels(record.topic, group, "dlq").inc()
    log.warning(
        "dead-lettered",
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        error=str(exc)[:300],
        error_type=type(exc).__name__,
    )
