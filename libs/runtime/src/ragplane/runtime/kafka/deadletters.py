"""Dead letters: a poison record goes to ``<topic>.dlq`` as it was, with the failure in ``ragplane-*`` headers.

A purge marker (``write_purge_marker``) is a record appended to a DLQ that says "never replay the dead letters of
this tenant (or of this document) dead-lettered before me"; ``ragplane dlq purge`` writes one on an operator's
request, ingest on every DeleteDocument, and ``ragplane dlq replay`` honours them.
"""

from __future__ import annotations

import time
from typing import Any

from ragplane.runtime.kafka.producer import SCHEMA_HEADER, EventProducer
from ragplane.runtime.kafka.topics import TOPIC_CHUNKS, TOPIC_INDEXED, TOPIC_VECTORS, dlq_topic
from ragplane.runtime.logs import get_logger
from ragplane.runtime.telemetry import KAFKA_CONSUMED, KAFKA_DLQ
from ragplane.v1 import events_pb2

log = get_logger("ragplane.kafka")

ERROR_HEADER = "ragplane-error"
PURGE_HEADER = "ragplane-purge"
# On a document's marker: its dead letters of a version below this sequence are purged whenever they were
# dead-lettered (an event still on its way at the delete is dead-lettered after the marker).
PURGE_BELOW_HEADER = "ragplane-purge-below-sequence"
# Payload types of the topics whose records carry a document version (field ``version.sequence``).
_VERSIONED = {
    TOPIC_CHUNKS: events_pb2.ChunksEvent,
    TOPIC_VECTORS: events_pb2.VectorsEvent,
    TOPIC_INDEXED: events_pb2.IndexedEvent,
}


def versioned_payload(record: Any, topic: str) -> tuple[str, str, int, bool] | None:
    """(tenant, doc_id, version sequence, is a delete) of a record of a versioned topic, from its payload.

    The payload type comes from the schema header the producer sets, else from ``topic``'s name (a record produced
    without the header). None when the topic carries no document version or the payload does not decode.
    """
    schema = next((v for k, v in (record.headers or []) if k == SCHEMA_HEADER and v is not None), b"").decode(
        errors="replace"
    )
    message_type = next((t for t in _VERSIONED.values() if t.DESCRIPTOR.full_name == schema), None)
    if message_type is None:
        message_type = next((t for name, t in _VERSIONED.items() if topic.endswith(name)), None)
    if message_type is None or not record.value:
        return None
    try:
        event = message_type.FromString(record.value)
    except Exception:  # noqa: BLE001 - an undecodable payload is the caller's to handle as bytes
        return None
    deleted = getattr(event, "operation", 0) == events_pb2.DOCUMENT_OPERATION_DELETE
    return event.tenant, event.doc_id, event.version.sequence, deleted


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


def purge_marker_scope(tenant: str, doc_id: str = "") -> str:
    """What a purge marker covers: ``<tenant>/<doc_id>``, or ``<tenant>/`` for every document of the tenant.

    Raises:
        ValueError: an empty tenant or one with a '/' (the marker could not name it).
    """
    if not tenant or "/" in tenant:
        raise ValueError(f"tenant must be a tenant name without '/', but got {tenant!r}")
    return f"{tenant}/{doc_id}"


def write_purge_marker(
    producer: EventProducer,
    dlq: str,
    tenant: str,
    doc_id: str = "",
    *,
    below_sequence: int | None = None,
    timeout_s: float = 30.0,
) -> str:
    """Append a purge marker for ``tenant`` (or one document) to ``dlq`` (the broker's name); rewrites nothing.

    The marker has the scope as key and header and an empty value; it returns once the broker acknowledged it.
    It covers the dead letters written before it and, with ``below_sequence`` (a document's deletion), also
    those of the document's older versions written after it.

    Returns:
        The marker's scope (``purge_marker_scope``).
    Raises:
        ValueError: a tenant the marker cannot name, or ``below_sequence`` without a document.
        KafkaError: the DLQ did not acknowledge the marker.
    """
    scope = purge_marker_scope(tenant, doc_id)
    headers = [(PURGE_HEADER, scope.encode())]
    if below_sequence is not None:
        if not doc_id:
            raise ValueError("below_sequence needs a doc_id: sequences are a document's")
        headers.append((PURGE_BELOW_HEADER, str(below_sequence).encode()))
    producer.send_raw(dlq, scope.encode(), b"", headers, timeout_s=timeout_s)
    return scope
