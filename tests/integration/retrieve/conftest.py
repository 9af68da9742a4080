"""Fixtures of the retrieve integration tests."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from ragplane_retrieve.model import PointRecord, Sparse


def unit(rng: np.random.Generator, dims: int = 384) -> list[float]:
    v = rng.normal(size=dims)
    return (v / np.linalg.norm(v)).tolist()


def point(tenant: str, doc_id: str, chunk_index: int, dense: list[float], terms: dict[int, float] | None = None,
          sequence: int = 1, **extra) -> PointRecord:
    terms = terms or {}
    payload = {"tenant": tenant, "doc_id": doc_id, "chunk_id": "", "content_hash": f"h{sequence}",
               "sequence": sequence, "chunk_index": chunk_index, "page": extra.pop("page", 1),
               "section_path": ["Intro"], "char_start": 0, "char_end": 10, "source": extra.pop("source", "a.txt"),
               "title": extra.pop("title", "A"), "metadata": extra.pop("metadata", {}), "flags": [],
               "text": extra.pop("text", f"{doc_id} chunk {chunk_index}")}
    assert not extra, extra
    pid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{doc_id}/{chunk_index}"))
    items = sorted(terms.items())
    return PointRecord(pid, dense, Sparse(tuple(i for i, _ in items), tuple(v for _, v in items)), payload)


@pytest.fixture
def make_point():
    """Builds a PointRecord with the writer's payload layout."""
    return point


@pytest.fixture
def make_unit():
    """A seeded unit vector from a generator."""
    return unit


class TopicReader:
    """Reads a topic from its beginning with a fresh consumer group; ``take`` waits for records."""

    def __init__(self, bootstrap: str, topic: str, message_type) -> None:
        from kafka import KafkaConsumer

        self.message_type = message_type
        self.records: list = []
        self._consumer = KafkaConsumer(topic, bootstrap_servers=[bootstrap], group_id=f"reader-{uuid.uuid4().hex[:8]}",
                                       auto_offset_reset="earliest", enable_auto_commit=False,
                                       session_timeout_ms=6000, heartbeat_interval_ms=2000)

    def take(self, count: int, timeout_s: float = 90.0) -> list:
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
                        self.records.append(message)
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
