"""Kafka layer over kafka-python used by every producer and consumer.

- Payloads are protobuf messages; headers carry ``traceparent`` (W3C), ``content-type`` and
  ``ragplane-schema`` (the message's full name). Keys are ``<tenant>/<doc_id>`` or similar.
- ``EventProducer`` (producer) waits for the broker's acknowledgement (acks=all), compresses, and splits an event
  under ``RAGPLANE_KAFKA_MAX_MESSAGE_BYTES`` (sizing); ``ensure_topics`` (topics) creates topics with that
  ``max.message.bytes``.
- Topic names and consumer groups are given plain (``ragplane.chunks.v1``, ``ragplane-embed``); the producer,
  the consumer, ``ensure_topics`` and ``consumer_lag`` put RAGPLANE_KAFKA_TOPIC_PREFIX in front (``topic_name``,
  ``group_name``), and dead letters go to the prefixed topic's ``.dlq``. ``send_raw`` takes the broker's name.
- ``ConsumerRunner`` (consumer) is at-least-once and supervised: it commits only finished records, retries
  retriable failures through an outage without dead-lettering them, sends only poison records to
  ``<topic>.dlq`` (deadletters), restarts after a failure and reports ``up`` for the service's health.
"""

from ragplane.runtime.kafka.consumer import CONSUMER_UP, ConsumerOptions, ConsumerRunner, Handler
from ragplane.runtime.kafka.deadletters import (
    ERROR_HEADER,
    PURGE_BELOW_HEADER,
    PURGE_HEADER,
    dead_letter,
    purge_marker_scope,
    versioned_payload,
    write_purge_marker,
)
from ragplane.runtime.kafka.producer import CONTENT_TYPE, SCHEMA_HEADER, EventProducer
from ragplane.runtime.kafka.records import Envelope, PoisonMessage, RetriableError, is_retriable
from ragplane.runtime.kafka.sizing import EventTooLarge, split_to_fit
from ragplane.runtime.kafka.topics import (
    ALL_TOPICS,
    TOPIC_ANSWERS,
    TOPIC_CHUNKS,
    TOPIC_EVALS,
    TOPIC_FEEDBACK,
    TOPIC_INDEXED,
    TOPIC_VECTORS,
    client_config,
    consumer_lag,
    dlq_topic,
    ensure_topics,
    group_name,
    topic_configs,
    topic_name,
)

__all__ = [
    "ALL_TOPICS",
    "CONSUMER_UP",
    "CONTENT_TYPE",
    "ERROR_HEADER",
    "PURGE_BELOW_HEADER",
    "PURGE_HEADER",
    "SCHEMA_HEADER",
    "TOPIC_ANSWERS",
    "TOPIC_CHUNKS",
    "TOPIC_EVALS",
    "TOPIC_FEEDBACK",
    "TOPIC_INDEXED",
    "TOPIC_VECTORS",
    "ConsumerOptions",
    "ConsumerRunner",
    "Envelope",
    "EventProducer",
    "EventTooLarge",
    "Handler",
    "PoisonMessage",
    "RetriableError",
    "client_config",
    "consumer_lag",
    "dead_letter",
    "dlq_topic",
    "ensure_topics",
    "group_name",
    "is_retriable",
    "purge_marker_scope",
    "split_to_fit",
    "topic_configs",
    "topic_name",
    "versioned_payload",
    "write_purge_marker",
]
