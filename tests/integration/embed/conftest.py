"""Fixtures of the embed integration tests."""

from __future__ import annotations

import uuid

import pytest


class TopicReader:
    """Reads a topic from its beginning with a fresh consumer group; ``take`` waits for records."""

    def __init__(self, bootstrap: str, topic: str, message_type) -> None:
        from kafka import KafkaConsumer

        self.message_type = message_type
        self.records: list = []
        self._consumer = KafkaConsumer(topic, bootstrap_servers=[bootstrap], group_id=f"reader-{uuid.uuid4().hex[:8]}",
                                       auto_offset_reset="earliest", enable_auto_commit=False,
                                       session_timeout_ms=6000, heartbeat_interval_ms=2000)

    def take(self, count: int, timeout_s: float = 120.0) -> list:
        """Wait until ``count`` records (in total) were read; return all read so far."""
        import time

        deadline = time.monotonic() + timeout_s
        while len(self.records) < count and time.monotonic() < deadline:
            for records in self._consumer.poll(timeout_ms=500).values():
                for record in records:
                    if self.message_type is None:
                        self.records.append(record)
                    else:
                        message = self.message_type()
                        message.ParseFromString(record.value)
                        self.records.append((record.key.decode(), message))
        assert len(self.records) >= count, f"read {len(self.records)} of {count} records in {timeout_s} s"
        return self.records

    def close(self) -> None:
        self._consumer.close()


@pytest.fixture
def topic_reader(kafka_bootstrap):
    readers: list[TopicReader] = []

    def make(topic: str, message_type=None) -> TopicReader:
        reader = TopicReader(kafka_bootstrap, topic, message_type)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()
