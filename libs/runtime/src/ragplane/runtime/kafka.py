"""Kafka layer over kafka-python used by every producer and consumer.

- Payloads are protobuf messages; headers carry ``traceparent`` (W3C), ``content-type`` and
  ``ragplane-schema`` (the message's full name). Keys are ``<tenant>/<doc_id>`` or similar.
- ``EventProducer`` waits for the broker's acknowledgement (acks=all) before reporting success.
- ``ConsumerRunner`` is at-least-once: it commits a batch's offsets only after the handler returned, i.e.
  after the handler made its effect durable. Retriable failures are retried with jittered backoff
  (``retry.Backoff``) a bounded number of times; a record that cannot be decoded or keeps failing goes to
  ``<topic>.dlq`` with the error in headers and the consumer goes on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError, Message
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from opentelemetry import context as otel_context
from opentelemetry import trace

from ragplane.runtime.errors import DeadlineExceeded, RagplaneError, ResourceExhausted
from ragplane.runtime.logs import get_logger
from ragplane.runtime.retry import Backoff, retry_call
from ragplane.runtime.settings import CommonSettings
from ragplane.runtime.telemetry import (
    KAFKA_CONSUMED,
    KAFKA_DLQ,
    KAFKA_LAG,
    KAFKA_PRODUCED,
    extract_context,
    inject_headers,
)

log = get_logger("ragplane.kafka")
tracer = trace.get_tracer("ragplane.kafka")

TOPIC_CHUNKS = "ragplane.chunks.v1"
TOPIC_VECTORS = "ragplane.vectors.v1"
TOPIC_INDEXED = "ragplane.indexed.v1"
TOPIC_ANSWERS = "ragplane.answers.v1"
TOPIC_FEEDBACK = "ragplane.feedback.v1"
TOPIC_EVALS = "ragplane.evals.v1"
ALL_TOPICS = (TOPIC_CHUNKS, TOPIC_VECTORS, TOPIC_INDEXED, TOPIC_ANSWERS, TOPIC_FEEDBACK, TOPIC_EVALS)

CONTENT_TYPE = "application/x-protobuf"
SCHEMA_HEADER = "ragplane-schema"
ERROR_HEADER = "ragplane-error"


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


class PoisonMessage(Exception):
    """The record can never be processed (bad payload, impossible content): send it to the DLQ now."""


class RetriableError(Exception):
    """A transient failure (a dependency is down); the batch is retried with backoff."""


def is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, RetriableError):
        return True
    if isinstance(exc, RagplaneError):
        # A busy or slow dependency (a model server at capacity) is worth another try after a backoff too.
        return exc.retriable or isinstance(exc, (ResourceExhausted, DeadlineExceeded))
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False))
    return isinstance(exc, (ConnectionError, TimeoutError))


def client_config(settings: CommonSettings) -> dict[str, Any]:
    """Connection settings shared by producers, consumers and the admin client."""
    config: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()],
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    if settings.kafka_ssl_cafile:
        config["ssl_cafile"] = settings.kafka_ssl_cafile
    return config


def ensure_topics(
    settings: CommonSettings,
    topics: Iterable[str],
    *,
    partitions: int | None = None,
    replication_factor: int = 1,
    with_dlq: bool = True,
    timeout_s: float = 30.0,
) -> None:
    """Create topics (and their DLQs) if missing; existing topics are left as they are."""
    wanted = []
    for topic in topics:
        wanted.append(topic)
        if with_dlq and not topic.endswith(".dlq"):
            wanted.append(dlq_topic(topic))
    admin = retry_call(
        lambda: KafkaAdminClient(**client_config(settings), client_id="ragplane-admin"),
        Backoff(base_s=0.1, cap_s=1.0, attempts=None),
        retriable=lambda exc: isinstance(exc, KafkaError),
        deadline=time.monotonic() + timeout_s,
        what="connect to the broker",
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            new = [NewTopic(t, partitions or settings.kafka_partitions, replication_factor) for t in missing]
            try:
                admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass
            log.info("topics created", topics=missing)
    finally:
        admin.close()


def _headers_for(message: Message, extra: Sequence[tuple[str, bytes]] = ()) -> list[tuple[str, bytes]]:
    headers = inject_headers()
    headers.append(("content-type", CONTENT_TYPE.encode()))
    headers.append((SCHEMA_HEADER, message.DESCRIPTOR.full_name.encode()))
    headers.extend(extra)
    return headers


class EventProducer:
    """Produces protobuf events with trace context; ``send`` blocks until the broker acknowledged.

    It connects in ``connect()`` (warm-up) or on the first send, so a service can build it in ``__init__``.
    """

    def __init__(self, settings: CommonSettings, client_id: str, *, linger_ms: int = 5) -> None:
        self._config = dict(
            **client_config(settings),
            client_id=client_id,
            acks="all",
            linger_ms=linger_ms,
            retries=5,
            max_in_flight_requests_per_connection=1,  # keeps per-key order across retries
            max_request_size=8 * 1024 * 1024,
        )
        self._client: KafkaProducer | None = None
        self._connecting = threading.Lock()

    def connect(self) -> KafkaProducer:
        """Connect to the brokers now (blocking; raises KafkaError when none is reachable)."""
        with self._connecting:
            if self._client is None:
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
        """Produce several events (in order) and wait until all are acknowledged."""
        futures = [
            self._producer.send(
                topic, key=key.encode(), value=msg.SerializeToString(), headers=_headers_for(msg, headers)
            )
            for key, msg in items
        ]
        self._producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)
        KAFKA_PRODUCED.labels(topic).inc(len(items))

    def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
        timeout_s: float = 30.0,
    ) -> None:
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
        if self._client is None:
            return
        self._client.flush(timeout=timeout_s)
        self._client.close(timeout=timeout_s)


M = TypeVar("M", bound=Message)


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
        for key, value in self.headers:
            if key == name and value is not None:
                return value.decode(errors="replace")
        return None

    @property
    def trace_context(self):
        return extract_context(self.headers)


Handler = Callable[[list[Envelope[Any]]], Awaitable[None] | None]


@dataclass
class ConsumerOptions:
    batch_size: int = 64
    batch_wait_s: float = 0.05
    max_retries: int = 5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 2000
    max_poll_interval_ms: int = 300_000
    lag_interval_s: float = 5.0


class ConsumerRunner:
    """Runs a consumer group member in a thread: poll -> decode -> handle batch -> commit.

    The handler gets a list of envelopes (ordered per partition) and returns once their effect is durable.
    A coroutine handler runs on ``loop``; a plain function runs in the consumer thread.
    """

    def __init__(
        self,
        settings: CommonSettings,
        *,
        topic: str,
        group: str,
        message_type: type[M],
        handler: Handler,
        options: ConsumerOptions | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        client_id: str | None = None,
    ) -> None:
        self.topic = topic
        self.group = group
        self._settings = settings
        self._type = message_type
        self._handler = handler
        self._options = options or ConsumerOptions()
        self._loop = loop
        self._client_id = client_id or group
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: KafkaConsumer | None = None
        self._dlq: EventProducer | None = None
        self._assigned = threading.Event()
        self.error: BaseException | None = None
        self.handled = 0
        self.dead_lettered = 0
        self._last_lag = 0.0

    def start(self) -> None:
        self._consumer = KafkaConsumer(
            self.topic,
            **client_config(self._settings),
            group_id=self.group,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self._options.session_timeout_ms,
            heartbeat_interval_ms=self._options.heartbeat_interval_ms,
            max_poll_interval_ms=self._options.max_poll_interval_ms,
            max_poll_records=self._options.batch_size,
        )
        self._dlq = EventProducer(self._settings, f"{self._client_id}-dlq")
        self._thread = threading.Thread(target=self._run, name=f"consumer-{self.group}", daemon=True)
        self._thread.start()

    def wait_assigned(self, timeout_s: float = 60.0) -> bool:
        """Block until the group gave this member partitions (tests, startup ordering)."""
        return self._assigned.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the batch in hand, commit, leave the group."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._dlq is not None:
            self._dlq.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- internals -------------------------------------------------------------------------------

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        try:
            while not self._stop.is_set():
                batch = self._poll_batch(consumer)
                if consumer.assignment():
                    self._assigned.set()
                if batch:
                    self._process(batch)
                    self._commit(consumer, batch)
                self._report_lag(consumer)
        except BaseException as exc:  # noqa: BLE001 - reported via .error and the log
            self.error = exc
            log.error("consumer crashed", topic=self.topic, group=self.group, exc_info=exc)
        finally:
            try:
                consumer.close(autocommit=False)
            except Exception:  # noqa: BLE001
                pass

    def _poll_batch(self, consumer: KafkaConsumer) -> list[Any]:
        """Collect up to batch_size records, waiting at most batch_wait_s after the first one arrived."""
        records: list[Any] = []
        deadline: float | None = None
        while len(records) < self._options.batch_size and not self._stop.is_set():
            timeout_ms = 200 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            polled = consumer.poll(timeout_ms=timeout_ms, max_records=self._options.batch_size - len(records))
            got = [record for partition_records in polled.values() for record in partition_records]
            if deadline is None:
                if not got:
                    return records
                deadline = time.monotonic() + self._options.batch_wait_s
            records.extend(got)
            if time.monotonic() >= deadline:
                break
        return records

    def _decode(self, record: Any) -> Envelope[Any]:
        headers = list(record.headers or [])
        schema = next((v.decode(errors="replace") for k, v in headers if k == SCHEMA_HEADER and v), None)
        expected = self._type.DESCRIPTOR.full_name
        if schema is not None and schema != expected:
            raise PoisonMessage(f"schema {schema!r} on {record.topic}, expected {expected!r}")
        if record.value is None:
            raise PoisonMessage("record has no value")
        message = self._type()
        try:
            message.ParseFromString(record.value)
        except DecodeError as exc:
            raise PoisonMessage(f"cannot decode {expected}: {exc}") from None
        key = record.key.decode(errors="replace") if record.key is not None else ""
        return Envelope(record.topic, record.partition, record.offset, key, message, headers)

    def _process(self, records: list[Any]) -> None:
        envelopes: list[tuple[Any, Envelope[Any]]] = []
        for record in records:
            try:
                envelopes.append((record, self._decode(record)))
            except PoisonMessage as exc:
                self._dead_letter(record, exc)
        if not envelopes:
            return
        try:
            self._handle_with_retries([env for _, env in envelopes])
            self.handled += len(envelopes)
            KAFKA_CONSUMED.labels(self.topic, self.group, "ok").inc(len(envelopes))
            return
        except Exception as exc:  # noqa: BLE001
            if len(envelopes) == 1:
                self._dead_letter(envelopes[0][0], exc)
                return
            log.warning("batch failed; isolating records", topic=self.topic, error=str(exc), size=len(envelopes))
        for record, envelope in envelopes:  # find the poison record(s); the others still succeed
            try:
                self._handle_with_retries([envelope])
                self.handled += 1
                KAFKA_CONSUMED.labels(self.topic, self.group, "ok").inc()
            except Exception as exc:  # noqa: BLE001
                self._dead_letter(record, exc)

    def _handle_with_retries(self, batch: list[Envelope[Any]]) -> None:
        options = self._options
        policy = Backoff(options.backoff_initial_s, options.backoff_max_s, attempts=options.max_retries + 1)
        # Waiting on the stop event lets shutdown interrupt a wait; a stopping consumer retries no more.
        retry_call(
            lambda: self._call_handler(batch),
            policy,
            sleep=self._stop.wait,
            retriable=lambda exc: is_retriable(exc) and not self._stop.is_set(),
            what=f"batch of {self.topic}",
        )

    def _call_handler(self, batch: list[Envelope[Any]]) -> None:
        ctx = batch[0].trace_context
        token = otel_context.attach(ctx)
        try:
            with tracer.start_as_current_span(
                f"consume {self.topic}",
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": self.topic,
                    "messaging.batch.message_count": len(batch),
                },
            ):
                result = self._handler(batch)
                if asyncio.iscoroutine(result):
                    if self._loop is None:
                        asyncio.run(result)
                    else:
                        asyncio.run_coroutine_threadsafe(result, self._loop).result()
        finally:
            otel_context.detach(token)

    def _dead_letter(self, record: Any, exc: BaseException) -> None:
        assert self._dlq is not None
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("ragplane-error")]
        headers += [
            (ERROR_HEADER, str(exc)[:2000].encode()),
            ("ragplane-error-type", type(exc).__name__.encode()),
            ("ragplane-original-topic", record.topic.encode()),
            ("ragplane-original-partition", str(record.partition).encode()),
            ("ragplane-original-offset", str(record.offset).encode()),
            ("ragplane-consumer-group", self.group.encode()),
            ("ragplane-failed-at", str(time.time()).encode()),
        ]
        self._dlq.send_raw(dlq_topic(record.topic), record.key, record.value, headers)
        self.dead_lettered += 1
        KAFKA_DLQ.labels(self.topic, self.group).inc()
        KAFKA_CONSUMED.labels(self.topic, self.group, "dlq").inc()
        log.warning(
            "dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=str(exc)[:300],
            error_type=type(exc).__name__,
        )

    def _commit(self, consumer: KafkaConsumer, records: list[Any]) -> None:
        from kafka.structs import OffsetAndMetadata

        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, -1), record.offset + 1)
        try:
            consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
        except CommitFailedError as exc:
            # The group rebalanced while we worked: the new owner re-processes these records, which is
            # safe because every handler is idempotent.
            log.warning("commit failed after rebalance", topic=self.topic, error=str(exc))

    def _report_lag(self, consumer: KafkaConsumer) -> None:
        now = time.monotonic()
        if now - self._last_lag < self._options.lag_interval_s:
            return
        self._last_lag = now
        partitions = list(consumer.assignment())
        if not partitions:
            return
        try:
            ends = consumer.end_offsets(partitions)
            for tp in partitions:
                position = consumer.position(tp)
                KAFKA_LAG.labels(tp.topic, str(tp.partition), self.group).set(max(0, ends.get(tp, 0) - position))
        except KafkaError as exc:
            log.debug("lag unavailable", error=str(exc))


def consumer_lag(settings: CommonSettings, group: str, topic: str) -> dict[int, int]:
    """Per-partition lag of ``group`` on ``topic``: log-end offset minus the committed offset.

    A partition the group never committed counts from the log start offset.
    """
    consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
    admin = KafkaAdminClient(**client_config(settings), client_id="ragplane-lag")
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        committed = admin.list_consumer_group_offsets(group)
        lag = {}
        for tp in tps:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else starts.get(tp, 0)
            lag[tp.partition] = max(0, ends.get(tp, 0) - position)
        return lag
    finally:
        consumer.close()
        admin.close()
