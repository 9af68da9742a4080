"""A consumer that fails is restarted, and the service says so: health NOT_SERVING and consumer_up 0 while it
cannot run, SERVING and 1 once it runs again; nothing it had not finished is lost (real broker, real server)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka.errors import KafkaTimeoutError
from prometheus_client import REGISTRY
from support.servers import serve

from ragplane.runtime.kafka import (
    ConsumerOptions,
    ConsumerRunner,
    EventProducer,
    PoisonMessage,
    ensure_topics,
)
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import events_pb2

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
OPTIONS = ConsumerOptions(
    batch_size=16, batch_wait_s=0.05, restart_initial_s=0.2, restart_max_s=1.0, healthy_after_s=2.0
)


class _BrokenDeadLetters:
    """``EventProducer.send_raw`` that times out (the DLQ's broker is unreachable) until ``repair()``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.broken = True
        real = EventProducer.send_raw

        def send_raw(producer: EventProducer, *args, **kwargs) -> None:
            if self.broken:
                raise KafkaTimeoutError("Failed to update metadata after 30.0 secs.")
            real(producer, *args, **kwargs)

        monkeypatch.setattr(EventProducer, "send_raw", send_raw)

    def repair(self) -> None:
        self.broken = False


class _Handler:
    """Indexes documents; ``doc-bad`` is poison (non-retriable)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, batch) -> None:
        for envelope in batch:
            if envelope.message.doc_id == "doc-bad":
                raise PoisonMessage("cannot index doc-bad")
        with self._lock:
            self.seen.extend(envelope.message.doc_id for envelope in batch)


class _ConsumerApp:
    """A service whose only work is one consumer, registered with the runtime as its liveness source."""

    name = "consumer-test"

    def __init__(self, settings: CommonSettings, topic: str, handler: _Handler) -> None:
        self.runner = ConsumerRunner(
            settings,
            topic=topic,
            group=f"g-{uuid.uuid4().hex[:8]}",
            message_type=events_pb2.IndexedEvent,
            handler=handler,
            options=OPTIONS,
        )

    def register(self, server: grpc.aio.Server) -> list[str]:
        return []

    async def start(self) -> None:
        await asyncio.to_thread(self.runner.start)

    def liveness(self) -> list[ConsumerRunner]:
        return [self.runner]

    async def stop(self) -> None:
        await asyncio.to_thread(self.runner.stop)


async def _health(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    return response.status


async def _until(predicate, timeout_s: float, what: str) -> None:
    """Wait until ``predicate()`` (a bool, or an awaitable of one) holds."""
    deadline = time.monotonic() + timeout_s
    while not await _truth(predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        await asyncio.sleep(0.1)


async def _truth(value) -> bool:
    return bool(await value) if asyncio.iscoroutine(value) else bool(value)


def _up(runner: ConsumerRunner) -> float | None:
    return REGISTRY.get_sample_value("ragplane_kafka_consumer_up", {"topic": runner.topic, "group": runner.group})


async def test_a_failing_consumer_restarts_and_health_is_not_serving_meanwhile(
    kafka_bootstrap, unique_topic, monkeypatch
):
    settings = load_settings(
        CommonSettings, {}, kafka_bootstrap=kafka_bootstrap, kafka_partitions=1, allow_dev_key=True
    )
    await asyncio.to_thread(ensure_topics, settings, [unique_topic])
    dead_letters = _BrokenDeadLetters(monkeypatch)
    handler = _Handler()
    app = _ConsumerApp(settings, unique_topic, handler)
    producer = EventProducer(settings, "test-producer")
    async with serve(app, settings) as served:
        assert await _health(served.channel) == SERVING and _up(app.runner) == 1
        for doc in ("doc-1", "doc-bad", "doc-2"):
            await asyncio.to_thread(producer.send, unique_topic, f"t/{doc}", events_pb2.IndexedEvent(doc_id=doc))

        async def not_serving() -> bool:
            return await _health(served.channel) == NOT_SERVING

        await _until(not_serving, 60, "health NOT_SERVING while the consumer cannot dead-letter")
        assert _up(app.runner) == 0
        await _until(lambda: app.runner.restarts >= 2, 30, "the consumer to be restarted")
        assert "doc-2" not in handler.seen  # nothing past the failing record was committed or skipped

        dead_letters.repair()

        async def recovered() -> bool:
            return "doc-2" in handler.seen and await _health(served.channel) == SERVING

        await _until(recovered, 60, "the restarted consumer to finish and health SERVING")
        assert _up(app.runner) == 1 and app.runner.running
        assert app.runner.dead_lettered == 1 and set(handler.seen) == {"doc-1", "doc-2"}
    producer.close()
