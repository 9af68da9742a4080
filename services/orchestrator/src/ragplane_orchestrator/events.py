"""Answer and feedback events for the data pipeline, published without holding up the caller."""

from __future__ import annotations

import asyncio

from google.protobuf.timestamp_pb2 import Timestamp

from ragplane.runtime.kafka import EventProducer
from ragplane.runtime.logs import get_logger
from ragplane.runtime.settings import CommonSettings
from ragplane_orchestrator import metrics

log = get_logger(__name__)


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


class EventPublisher:
    """Publishes in background tasks, at most ``max_in_flight`` at a time; ``drain`` waits for them (shutdown).

    Args:
        settings: the broker to connect to.
        client_id: the producer's client id.
        max_in_flight: events waiting for the broker at once. While the broker is slow or down, further events
            are dropped and counted (``ragplane_events_dropped_total``): each holds a whole answer with its
            context, and the answers were already given, so memory stays bounded instead of the requests slowing.

    The producer connects in ``open()`` (warm-up); events published before that are dropped.
    """

    def __init__(self, settings: CommonSettings, client_id: str, max_in_flight: int = 1000) -> None:
        self._settings = settings
        self._client_id = client_id
        self._max_in_flight = max_in_flight
        self._producer: EventProducer | None = None
        self._pending: set[asyncio.Task] = set()
        self.failed = 0

    @property
    def in_flight(self) -> int:
        """Events handed to the producer and not yet acknowledged or failed."""
        return len(self._pending)

    async def open(self) -> None:
        """Connect the producer (it looks up the brokers, so not on the event loop)."""
        self._producer = await asyncio.to_thread(EventProducer, self._settings, self._client_id)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Wait for the events in flight, then close the producer."""
        await self.drain(timeout_s)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)

    def publish(self, topic: str, key: str, message) -> None:
        """Hand one event to the producer without waiting; dropped and counted when too many are in flight."""
        if self._producer is None:
            return
        if len(self._pending) >= self._max_in_flight:
            metrics.EVENTS_DROPPED.labels(topic).inc()
            log.warning("event dropped: too many in flight", topic=topic, in_flight=len(self._pending))
            return
        task = asyncio.create_task(self._send(self._producer, topic, key, message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, producer: EventProducer, topic: str, key: str, message) -> None:
        try:
            await producer.publish(topic, key, message)
        except Exception as exc:  # noqa: BLE001 - the answer was already given; count and log
            self.failed += 1
            log.error("event not published", topic=topic, error=str(exc))

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout_s)
