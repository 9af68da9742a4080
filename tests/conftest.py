"""Shared fixtures: a real Kafka-protocol broker (Tansu) and real Redis servers on loopback (caches, and the
durable state Redis of ingest's registry), started once per run, and readers of its topics (support.topics).

Set RAGPLANE_TEST_KAFKA_BOOTSTRAP / RAGPLANE_TEST_REDIS_URL / RAGPLANE_TEST_STATE_REDIS_URL to use already-running
ones instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from support.topics import TopicReader

from ragplane.cli import infra


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a real Kafka-protocol broker."""
    external = os.environ.get("RAGPLANE_TEST_KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    broker = infra.start_broker(log_path=log)
    yield broker.address
    broker.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Redis server."""
    external = os.environ.get("RAGPLANE_TEST_REDIS_URL")
    if external:
        yield external
        return
    redis = infra.start_redis(persistent=False, log_path=tmp_path_factory.mktemp("redis") / "redis.log")
    yield f"redis://{redis.address}/0"
    redis.stop()


@pytest.fixture(scope="session")
def state_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real state Redis as ingest's registry needs it: append-only file on, never evicting."""
    external = os.environ.get("RAGPLANE_TEST_STATE_REDIS_URL")
    if external:
        yield external
        return
    root = tmp_path_factory.mktemp("state-redis")
    redis = infra.start_redis(
        data_dir=root / "data", log_path=root / "redis.log", eviction="noeviction", name="state-redis"
    )
    yield f"redis://{redis.address}/0"
    redis.stop()


@pytest.fixture
def unique_topic() -> str:
    """A fresh topic name so tests never see each other's records."""
    return f"test.{uuid.uuid4().hex[:10]}.v1"


@pytest.fixture
def topic_reader(kafka_bootstrap: str) -> Iterator[Callable[..., TopicReader]]:
    """``topic_reader(topic, message_type=None)``: a reader of the topic from its beginning, closed after the test."""
    readers: list[TopicReader] = []

    def make(topic: str, message_type: type | None = None) -> TopicReader:
        reader = TopicReader(kafka_bootstrap, topic, message_type)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()
