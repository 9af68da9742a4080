"""One Kafka topic reader for the tests: reads a topic from its beginning and keeps its position."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple


class Record(NamedTuple):
    """A record as tests look at it: key, decoded message (None: no type given or undecodable), headers."""

    key: str
    message: Any
    headers: list[tuple[str, bytes]]


class TopicReader:
    """Reads ``topic`` from its beginning with a fresh consumer group, decoding values as ``message_type``.

    ``take``/``messages`` wait for a total number of records; ``read_until`` waits for a condition on the records
    that arrived since its previous call; ``poll`` returns what arrived since the last read.
    """

    def __init__(self, bootstrap: str, topic: str, message_type: type | None = None) -> None:
        from kafka import KafkaConsumer

        self.message_type = message_type
        self.records: list[Record] = []
        self._consumed = 0  # where read_until's next window starts
        # A fresh group (subscribe rather than assign) sees every partition, also of a topic created later.
        self._consumer = KafkaConsumer(
            topic,
            bootstrap_servers=[bootstrap],
            group_id=f"reader-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
        )

    def poll(self, timeout_ms: int = 500) -> list[Record]:
        """Records that arrived since the last read (waits up to ``timeout_ms`` for some)."""
        new = [self._record(r) for batch in self._consumer.poll(timeout_ms=timeout_ms).values() for r in batch]
        self.records.extend(new)
        self._consumed = len(self.records)
        return new

    def take(self, count: int, timeout_s: float = 120.0) -> list[Record]:
        """Wait until ``count`` records (in total) were read; return all read so far."""
        deadline = time.monotonic() + timeout_s
        while len(self.records) < count and time.monotonic() < deadline:
            self.poll()
        assert len(self.records) >= count, f"read {len(self.records)} of {count} records in {timeout_s} s"
        return self.records

    def messages(self, count: int, timeout_s: float = 120.0) -> list[Any]:
        """``take`` as decoded messages."""
        return [record.message for record in self.take(count, timeout_s)]

    async def read_until(self, done: Callable[[list[Record]], bool], timeout_s: float = 60) -> list[Record]:
        """Records read since the previous call, up to the first time ``done`` holds for them."""
        start = self._consumed
        deadline = time.monotonic() + timeout_s
        while not done(self.records[start:]):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met after {timeout_s}s; read {len(self.records) - start} records")
            await asyncio.to_thread(self.poll, 300)
        return self.records[start:]

    def close(self) -> None:
        self._consumer.close()

    def _record(self, record: Any) -> Record:
        key = record.key.decode() if record.key else ""
        return Record(key, self._decode(record.value), list(record.headers or []))

    def _decode(self, value: bytes | None) -> Any:
        if self.message_type is None:
            return None
        message = self.message_type()
        try:
            message.ParseFromString(value or b"")
        except Exception:  # noqa: BLE001 - a poison record is kept, undecoded
            return None
        return message
