"""Kafka layer over kafka-python used by every producer and consumer.

- Payloads are protobuf messages; headers carry ``traceparent`` (W3C), ``content-type`` and
  ``ragplane-schema`` (the message's full name). Keys are ``<tenant>/<doc_id>`` or similar.
- ``EventProducer`` (producer) waits for the broker's acknowledgement (acks=all), compresses, and splits an event
  under ``RAGPLANE_KAFKA_MAX_MESSAGE_BYTES`` (sizing); ``ensure_topics`` (topics) creates topics with that
  ``max.message.bytes``.
- ``ConsumerRunner`` (consumer) is at-least-once and supervised: it commits only finished records, retries
  retriable failures through an outage without dead-lettering them, sends only poison records to
  ``<topic>.dlq`` (deadletters), restarts after a failure and reports ``up`` for the service's health.
"""

from ragplane.runtime.kafka.consumer import CONSUMER_UP, ConsumerOptions, ConsumerRunner, Handler
from ragplane.runtime.kafka.deadletters import ERROR_HEADER, dead_letter
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
    topic_configs,
)

__all__ = [
    "ALL_TOPICS",
    "CONSUMER_UP",
    "CONTENT_TYPE",
    "ERROR_HEADER",
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
    "is_retriable",
    "split_to_fit",
    "topic_configs",
]
