"""The consumer group member every service runs: poll -> decode -> handle -> commit, supervised.

Delivery is at-least-once and survives outages:
- offsets are committed only for records whose effect is durable (handled) or that are poison (dead-lettered);
- a retriable failure (a dependency is down) is never dead-lettered: the consumer seeks its partitions back to the
  first unfinished record and backs off (``retry.Backoff``, jittered, capped well under ``max_poll_interval_ms``,
  so the member stays in the group) before polling them again, for as long as the outage lasts; a stop during
  the outage leaves those records uncommitted for the next member;
- a batch that fails otherwise is handled record by record, so that only the poison record goes to the DLQ.

Anything else that escapes (a DLQ that cannot be written, a commit or poll error) ends the Kafka consumer, not the
runner: a supervisor reconnects it with backoff, resuming from the committed offset. While it is down, ``up`` is
False (the runtime turns the service's health NOT_SERVING) and the ``ragplane_kafka_consumer_up`` gauge is 0.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import Message
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from opentelemetry import context as otel_context
from opentelemetry import trace
from prometheus_client import Gauge

from ragplane.runtime.kafka.deadletters import dead_letter
from ragplane.runtime.kafka.producer import EventProducer
from ragplane.runtime.kafka.records import Envelope, PoisonMessage, RecordId, decode, is_retriable, record_id
from ragplane.runtime.kafka.topics import client_config, connection_errors_named, group_name, topic_name
from ragplane.runtime.logs import get_logger
from ragplane.runtime.retry import Backoff
from ragplane.runtime.settings import CommonSettings
from ragplane.runtime.telemetry import KAFKA_CONSUMED, KAFKA_LAG

log = get_logger("ragplane.kafka")
tracer = trace.get_tracer("ragplane.kafka")

CONSUMER_UP = Gauge(
    "ragplane_kafka_consumer_up", "1 while the consumer runs, 0 while it is down and restarting.", ["topic", "group"]
)

M = TypeVar("M", bound=Message)
Handler = Callable[[list[Envelope[Any]]], Awaitable[None] | None]


@dataclass
class ConsumerOptions:
    """How a ``ConsumerRunner`` batches, backs off through outages and restarts.

    Attributes:
        backoff_initial_s, backoff_max_s: the backoff between tries of a batch whose dependency is down.
        restart_initial_s, restart_max_s: the backoff between restarts of a consumer that failed.
        healthy_after_s: how long a restarted consumer must run before it counts as up again.
    """

    batch_size: int = 64
    batch_wait_s: float = 0.05
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    restart_initial_s: float = 1.0
    restart_max_s: float = 60.0
    healthy_after_s: float = 10.0
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 2000
    max_poll_interval_ms: int = 300_000
    lag_interval_s: float = 5.0

    def __post_init__(self) -> None:
        # The outage backoff waits without polling; a wait past max_poll_interval_ms would expel the member.
        if self.backoff_max_s * 1000 >= self.max_poll_interval_ms / 2:
            raise ValueError(
                f"backoff_max_s must be under half of max_poll_interval_ms ({self.max_poll_interval_ms} ms), "
                f"but got {self.backoff_max_s}"
            )


class ConsumerRunner:
    """Runs a consumer group member in a supervised thread (see the module docstring for the guarantees).

    ``topic`` and ``group`` are plain names: the member joins ``group_name`` on ``topic_name`` (with
    RAGPLANE_KAFKA_TOPIC_PREFIX), which ``.topic`` and ``.group`` then hold.
    The handler gets a list of envelopes (ordered per partition) and returns once their effect is durable.
    A coroutine handler runs on ``loop``; a plain function runs in the consumer thread. ``dead_letters`` is the
    producer for the DLQ (the runner makes and closes its own when None).
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
        dead_letters: EventProducer | None = None,
    ) -> None:
        self.topic = topic_name(settings, topic)
        self.group = group_name(settings, group)
        self.name = f"consumer {group} of {topic}"
        self._settings = settings
        self._type = message_type
        self._handler = handler
        self._options = options or ConsumerOptions()
        self._loop = loop
        self._client_id = client_id or self.group
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: KafkaConsumer | None = None
        self._owns_dlq = dead_letters is None
        self._dlq = dead_letters
        self._assigned = threading.Event()
        self._outage = Backoff(self._options.backoff_initial_s, self._options.backoff_max_s, attempts=None)
        self._outage_retries = 0
        self._failed_at: float | None = None
        self._running_since = 0.0
        self._last_lag = 0.0
        self._up_gauge = CONSUMER_UP.labels(self.topic, self.group)
        self.error: BaseException | None = None
        self.handled = 0
        self.dead_lettered = 0
        self.restarts = 0

    def start(self) -> None:
        """Join the group (raises KafkaError when no broker is reachable) and consume in a background thread."""
        self._consumer = self._connect()
        if self._dlq is None:
            self._dlq = EventProducer(self._settings, f"{self._client_id}-dlq")
        self._up_gauge.set(1)
        self._thread = threading.Thread(target=self._run, name=f"consumer-{self.group}", daemon=True)
        self._thread.start()

    def wait_assigned(self, timeout_s: float = 60.0) -> bool:
        """Block until the group gave this member partitions (tests, startup ordering)."""
        return self._assigned.wait(timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the batch in hand, commit what is done, leave the group."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._dlq is not None and self._owns_dlq:
            self._dlq.close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def up(self) -> bool:
        """Running, and not failed, or restarted at least ``healthy_after_s`` ago (a liveness source)."""
        if not self.running:
            return False
        if self._failed_at is None:
            return True
        since = self._running_since
        return since > self._failed_at and time.monotonic() - since >= self._options.healthy_after_s

    # -- supervision -----------------------------------------------------------------------------

    def _connect(self) -> KafkaConsumer:
        with connection_errors_named(self._settings):
            return self._new_consumer()

    def _new_consumer(self) -> KafkaConsumer:
        return KafkaConsumer(
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

    def _run(self) -> None:
        try:
            self._supervise()
        finally:
            if not self._stop.is_set():  # only something that is not an Exception ends the supervisor
                self._up_gauge.set(0)

    def _supervise(self) -> None:
        """Consume until stopped; a consumer that fails is closed and reconnected after a jittered backoff."""
        policy = Backoff(self._options.restart_initial_s, self._options.restart_max_s, attempts=None)
        failures = 0
        consumer = self._consumer
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                consumer = consumer or self._connect()
                self._consume(consumer)
            except Exception as exc:  # noqa: BLE001 - supervised: reported, then restarted
                if time.monotonic() - started > policy.cap_s:
                    failures = 0  # a long healthy run starts the backoff over
                delay = policy.delay(failures)
                failures += 1
                self._failed(exc, delay)
                self._stop.wait(delay)
            finally:
                if consumer is not None:
                    _close(consumer)
                consumer = None

    def _failed(self, exc: Exception, delay: float) -> None:
        self.error = exc
        self.restarts += 1
        self._failed_at = time.monotonic()
        self._up_gauge.set(0)
        log.error(
            "consumer failed; restarting", topic=self.topic, group=self.group, delay_s=round(delay, 2), exc_info=exc
        )

    def _consume(self, consumer: KafkaConsumer) -> None:
        self._running_since = time.monotonic()
        while not self._stop.is_set():
            records = self._poll_batch(consumer)
            if consumer.assignment():
                self._assigned.set()
            if records:
                done = self._process(consumer, records)
                self._commit(consumer, records, done)
            self._up_gauge.set(1 if self.up else 0)
            self._report_lag(consumer)

    # -- one batch -------------------------------------------------------------------------------

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

    def _process(self, consumer: KafkaConsumer, records: list[Any]) -> set[RecordId]:
        """Handle a polled batch; returns the records that are finished (handled or dead-lettered)."""
        done: set[RecordId] = set()
        envelopes: list[tuple[Any, Envelope[Any]]] = []
        for record in records:
            try:
                envelopes.append((record, decode(record, self._type)))
            except PoisonMessage as exc:
                self._dead_letter(record, exc, done)
        if not envelopes:
            return done
        try:
            self._call_handler([envelope for _, envelope in envelopes])
        except Exception as exc:  # noqa: BLE001 - retriable, poison or isolated below
            if is_retriable(exc):
                self._back_off(consumer, records, done, exc)
            elif len(envelopes) == 1:
                self._dead_letter(envelopes[0][0], exc, done)
            else:
                log.warning("batch failed; isolating records", topic=self.topic, error=str(exc), size=len(envelopes))
                self._isolate(consumer, records, envelopes, done)
            return done
        self._handled([record for record, _ in envelopes], done)
        return done

    def _isolate(
        self, consumer: KafkaConsumer, records: list[Any], envelopes: list[tuple[Any, Envelope[Any]]], done: set
    ) -> None:
        """Handle the records one by one: the poison one(s) go to the DLQ, the others still succeed."""
        for record, envelope in envelopes:
            try:
                self._call_handler([envelope])
            except Exception as exc:  # noqa: BLE001 - retriable or poison
                if is_retriable(exc):
                    self._back_off(consumer, records, done, exc)
                    return
                self._dead_letter(record, exc, done)
            else:
                self._handled([record], done)

    def _handled(self, records: list[Any], done: set[RecordId]) -> None:
        done.update(record_id(record) for record in records)
        self.handled += len(records)
        self._outage_retries = 0
        KAFKA_CONSUMED.labels(self.topic, self.group, "ok").inc(len(records))

    def _dead_letter(self, record: Any, exc: BaseException, done: set[RecordId]) -> None:
        assert self._dlq is not None
        dead_letter(self._dlq, record, exc, self.group)
        done.add(record_id(record))
        self.dead_lettered += 1

    def _back_off(self, consumer: KafkaConsumer, records: list[Any], done: set[RecordId], exc: Exception) -> None:
        """A dependency is down: rewind to the unfinished records and wait before they are polled again."""
        _rewind(consumer, [record for record in records if record_id(record) not in done])
        if self._stop.is_set():
            log.warning("stopping during an outage; records left uncommitted", topic=self.topic, error=str(exc))
            return
        delay = self._outage.delay(self._outage_retries)
        self._outage_retries += 1
        log.warning(
            "dependency unavailable; batch retried later",
            topic=self.topic,
            group=self.group,
            attempt=self._outage_retries,
            delay_s=round(delay, 2),
            error=str(exc)[:300],
        )
        self._stop.wait(delay)

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

    def _commit(self, consumer: KafkaConsumer, records: list[Any], done: set[RecordId]) -> None:
        """Commit, per partition, up to the first unfinished record (all of it when every record is finished)."""
        offsets = _committable(records, done)
        if not offsets:
            return
        try:
            consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})
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


def _committable(records: list[Any], done: set[RecordId]) -> dict[TopicPartition, int]:
    """The offset to commit per partition: its first unfinished record, or past its last one."""
    first: dict[TopicPartition, int] = {}
    pending: dict[TopicPartition, int] = {}
    end: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        first[tp] = min(first.get(tp, record.offset), record.offset)
        end[tp] = max(end.get(tp, 0), record.offset + 1)
        if record_id(record) not in done:
            pending[tp] = min(pending.get(tp, record.offset), record.offset)
    offsets = {tp: pending.get(tp, end[tp]) for tp in end}
    return {tp: offset for tp, offset in offsets.items() if offset > first[tp]}


def _rewind(consumer: KafkaConsumer, records: list[Any]) -> None:
    """Seek each partition this member still owns back to its first record in ``records``."""
    owned = consumer.assignment()
    starts: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        starts[tp] = min(starts.get(tp, record.offset), record.offset)
    for tp, offset in starts.items():
        if tp in owned:
            consumer.seek(tp, offset)


def _close(consumer: KafkaConsumer) -> None:
    try:
        consumer.close(autocommit=False)
    except Exception:  # noqa: BLE001 - closing a consumer that already failed
        log.debug("consumer close failed", exc_info=True)
