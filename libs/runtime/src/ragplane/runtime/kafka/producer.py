"""The event producer: protobuf events with trace context, acknowledged by the broker (acks=all), compressed and
split under the record size limit the topics are created with."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from google.protobuf.message import Message
from kafka import KafkaProducer
from kafka import codec as kafka_codec
from opentelemetry import context as otel_context

from ragplane.runtime.kafka.sizing import split_to_fit
from ragplane.runtime.kafka.topics import client_config, connection_errors_named, topic_name
from ragplane.runtime.settings import CommonSettings, SettingsError
from ragplane.runtime.telemetry import KAFKA_PRODUCED, inject_headers

CONTENT_TYPE = "application/x-protobuf"
SCHEMA_HEADER = "ragplane-schema"

# Room left in a record for what is not the value: the record and batch headers (about 70 bytes in Kafka's format)
# with a wide margin.
RECORD_OVERHEAD = 1024

_CODECS = {
    "gzip": kafka_codec.has_gzip,
    "snappy": kafka_codec.has_snappy,
    "lz4": kafka_codec.has_lz4,
    "zstd": kafka_codec.has_zstd,
}


def _compression(name: str) -> str | None:
    """kafka-python's ``compression_type`` for the setting; refuses a codec whose package is missing."""
    if name == "none":
        return None
    if not _CODECS[name]():
        raise SettingsError(f"RAGPLANE_KAFKA_COMPRESSION: {name} needs its Python package, which is not installed")
    return name


def _headers_for(message: Message, extra: Sequence[tuple[str, bytes]] = ()) -> list[tuple[str, bytes]]:
    headers = inject_headers()
    headers.append(("content-type", CONTENT_TYPE.encode()))
    headers.append((SCHEMA_HEADER, message.DESCRIPTOR.full_name.encode()))
    headers.extend(extra)
    return headers


class EventProducer:
    """Produces protobuf events with trace context; ``send`` blocks until the broker acknowledged.

    Records are compressed (``RAGPLANE_KAFKA_COMPRESSION``) and at most ``RAGPLANE_KAFKA_MAX_MESSAGE_BYTES`` long
    before compression, the ``max.message.bytes`` topics are created with; a bigger event is split (``sizing``).
    It connects in ``connect()`` (warm-up) or on the first send, so a service can build it in ``__init__``.
    """

    def __init__(self, settings: CommonSettings, client_id: str, *, linger_ms: int = 5) -> None:
        self.max_record_bytes = settings.kafka_max_message_bytes
        self._settings = settings
        self._config = dict(
            **client_config(settings),
            client_id=client_id,
            acks="all",
            linger_ms=linger_ms,
            retries=5,
            max_in_flight_requests_per_connection=1,  # keeps per-key order across retries
            max_request_size=self.max_record_bytes,
            compression_type=_compression(settings.kafka_compression),
        )
        self._client: KafkaProducer | None = None
        self._connecting = threading.Lock()

    def connect(self) -> KafkaProducer:
        """Connect to the brokers now (blocking; raises KafkaError when none is reachable)."""
        with self._connecting:
            if self._client is None:
                with connection_errors_named(self._settings):
                    self._client = KafkaProducer(**self._config)
        return self._client

    @property
    def _producer(self) -> KafkaProducer:
        return self._client or self.connect()

    def send(
        self,
        topic: str,
        key: str,
        message: Message,
        *,
        headers: Sequence[tuple[str, bytes]] = (),
        timeout_s: float = 30.0,
    ) -> None:
        """Produce one event and wait for its acknowledgement. Raises KafkaError on failure."""
        self.send_many(topic, [(key, message)], headers=headers, timeout_s=timeout_s)

    def send_many(
        self,
        topic: str,
        items: Sequence[tuple[str, Message]],
        *,
        headers: Sequence[tuple[str, bytes]] = (),
        timeout_s: float = 30.0,
    ) -> None:
        """Produce several events (in order, each split to fit a record) and wait until all are acknowledged.

        ``topic`` is the plain name; the records go to ``topic_name`` (with RAGPLANE_KAFKA_TOPIC_PREFIX).

        Raises:
            EventTooLarge: one item of an event does not fit a record (nothing is sent).
            KafkaError: the broker did not acknowledge in time.
        """
        records = []
        for key, message in items:
            record_headers = _headers_for(message, headers)
            taken = len(key.encode()) + sum(len(name) + len(value) for name, value in record_headers)
            for part in split_to_fit(message, self.max_record_bytes - RECORD_OVERHEAD - taken):
                records.append((key.encode(), part.SerializeToString(), record_headers))
        topic = topic_name(self._settings, topic)
        producer = self._producer
        try:
            futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in records]
            producer.flush(timeout=timeout_s)
            for future in futures:
                future.get(timeout=timeout_s)
        except Exception:
            self._drop_if_fatal(producer)
            raise
        KAFKA_PRODUCED.labels(topic).inc(len(records))

    def _drop_if_fatal(self, producer: KafkaProducer) -> None:
        """Forget a client whose idempotent producer state is fatally broken, so the next send connects anew.

        A broker that restarted without its state (the local memory-only broker) does not know the producer id:
        kafka-python then fails every later batch with the same fatal error until the client is replaced.
        """
        manager = getattr(producer, "_transaction_manager", None)
        if manager is None or not manager.has_fatal_error():
            return
        with self._connecting:
            if self._client is producer:
                self._client = None
        try:
            producer.close(timeout=0)
        except Exception:  # noqa: BLE001, S110 - the client is discarded either way
            pass

    def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        timeout_s: float = 30.0,
    ) -> None:
        """Produce one record as it is (a dead letter, a replay) and wait for its acknowledgement.

        ``topic`` is the broker's name (no prefix is added): a dead letter's or a replay's topic comes from a
        record the broker gave, which already carries it.
        """
        self._producer.send(topic, key=key, value=value, headers=headers).get(timeout=timeout_s)

    async def publish(self, topic: str, key: str, message: Message) -> None:
        """``send`` from async code without blocking the event loop (trace context is carried over)."""
        ctx = otel_context.get_current()

        def _send() -> None:
            token = otel_context.attach(ctx)
            try:
                self.send(topic, key, message)
            finally:
                otel_context.detach(token)

        await asyncio.get_running_loop().run_in_executor(None, _send)

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is pending and close the connection."""
        if self._client is None:
            return
        self._client.flush(timeout=timeout_s)
        self._client.close(timeout=timeout_s)
