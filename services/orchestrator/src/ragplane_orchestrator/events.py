"""Answer and feedback events for the data pipeline, published without holding up the caller."""

from __future__ import annotations

import asyncio

from google.protobuf.timestamp_pb2 import Timestamp

from ragplane.runtime.kafka import EventProducer
from ragplane.runtime.logs import get_logger
from ragplane.runtime.settings import CommonSettings

log = get_logger(__name__)


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


class EventPublisher:
    """Publishes in background tasks; ``drain`` waits for the ones in flight (shutdown).

    Args:
        settings: the broker to connect to.
        client_id: the producer's client id.

    The producer connects in ``open()`` (warm-up); events published before that are dropped.
    """

    def __init__(self, settings: CommonSettings, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._producer: EventProducer | None = None
        self._pending: set[asyncio.Task] = set()
        self.failed = 0

    async def open(self) -> None:
        """Connect the producer (it looks up the brokers, so not on the event loop)."""
        self._producer = await asyncio.to_thread(EventProducer, self._settings, self._client_id)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Wait for the events in flight, then close the producer."""
        await self.drain(timeout_s)
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close)

    def publish(self, topic: str, key: str, message) -> None:
        if self._producer is None:
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
