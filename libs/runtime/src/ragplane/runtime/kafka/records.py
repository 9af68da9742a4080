"""Consumed records: the decoded envelope handlers get, and which failures are poison and which are transient."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

from google.protobuf.message import DecodeError, Message
from kafka.errors import KafkaError

from ragplane.runtime.errors import DeadlineExceeded, RagplaneError, ResourceExhausted
from ragplane.runtime.kafka.producer import SCHEMA_HEADER
from ragplane.runtime.telemetry import extract_context

M = TypeVar("M", bound=Message)


class PoisonMessage(Exception):
    """The record can never be processed (bad payload, impossible content): send it to the DLQ now."""


class RetriableError(Exception):
    """A transient failure (a dependency is down); the batch is retried with backoff until it succeeds."""


def is_retriable(exc: BaseException) -> bool:
    """Whether ``exc`` is transient: the record is retried (never dead-lettered) rather than declared poison."""
    if isinstance(exc, RetriableError):
        return True
    if isinstance(exc, RagplaneError):
        # A busy or slow dependency (a model server at capacity) is worth another try after a backoff too.
        return exc.retriable or isinstance(exc, (ResourceExhausted, DeadlineExceeded))
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False))
    return isinstance(exc, (ConnectionError, TimeoutError))


class RecordId(NamedTuple):
    """Where a record sits: topic, partition, offset."""

    topic: str
    partition: int
    offset: int


def record_id(record: Any) -> RecordId:
    """The position of a kafka-python ``ConsumerRecord``."""
    return RecordId(record.topic, record.partition, record.offset)


@dataclass
class Envelope(Generic[M]):
    """One consumed record with its decoded payload."""

    topic: str
    partition: int
    offset: int
    key: str
    message: M
    headers: list[tuple[str, bytes]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, decoded, or None."""
        for key, value in self.headers:
            if key == name and value is not None:
                return value.decode(errors="replace")
        return None

    @property
    def trace_context(self):
        return extract_context(self.headers)


def decode(record: Any, message_type: type[M]) -> Envelope[M]:
    """The record as an envelope of ``message_type``.

    Raises:
        PoisonMessage: another schema in the headers, no value, or a payload that does not parse.
    """
    headers = list(record.headers or [])
    schema = next((v.decode(errors="replace") for k, v in headers if k == SCHEMA_HEADER and v), None)
    expected = message_type.DESCRIPTOR.full_name
    if schema is not None and schema != expected:
        raise PoisonMessage(f"schema {schema!r} on {record.topic}, expected {expected!r}")
    if record.value is None:
        raise PoisonMessage("record has no value")
    message = message_type()
    try:
        message.ParseFromString(record.value)
    except DecodeError as exc:
        raise PoisonMessage(f"cannot decode {expected}: {exc}") from None
    key = record.key.decode(errors="replace") if record.key is not None else ""
    return Envelope(record.topic, record.partition, record.offset, key, message, headers)
