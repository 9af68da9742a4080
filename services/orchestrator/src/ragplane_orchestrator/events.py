"""Answer and feedback events for the data pipeline, published without holding up the caller."""

from __future__ import annotations

import asyncio

from google.protobuf.timestamp_pb2 import Timestamp

from ragplane.runtime.kafka import EventProducer
from ragplane.runtime.logs import get_logger

log = get_logger(__name__)


def now_timestamp() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


class EventPublisher:
    """Publishes in background tasks; ``drain`` waits for the ones in flight (shutdown)."""

    def __init__(self, producer: EventProducer | None) -> None:
        self._producer = producer
        self._pending: set[asyncio.Task] = set()
        self.failed = 0

    def publish(self, topic: str, key: str, message) -> None:
        if self._producer is None:
            return
        task = asyncio.create_task(self._send(topic, key, message))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send(self, topic: str, key: str, message) -> None:
        try:
            await self._producer.publish(topic, key, message)
        except Exception as exc:  # noqa: BLE001 - the answer was already given; count and log
            self.failed += 1
            log.error("event not published", topic=topic, error=str(exc))

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout_s)
