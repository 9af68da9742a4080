"""Answer and feedback events while the broker is stalled: bounded memory, drops counted (security review F19)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from ragplane.runtime.settings import load_settings
from ragplane.v1 import events_pb2
from ragplane_orchestrator.config import Settings
from ragplane_orchestrator.events import EventPublisher

pytestmark = pytest.mark.unit


class _StalledProducer:
    """A producer whose sends wait until the broker comes back (``release``)."""

    def __init__(self) -> None:
        self.back = asyncio.Event()
        self.sent: list[str] = []

    async def publish(self, topic: str, key: str, message) -> None:
        await self.back.wait()
        self.sent.append(key)


def _dropped(topic: str) -> float:
    return REGISTRY.get_sample_value("ragplane_events_dropped_total", {"topic": topic}) or 0.0


async def test_a_stalled_broker_holds_at_most_the_bound_in_memory_and_counts_the_rest():
    settings = load_settings(Settings, {}, events_max_in_flight=100)
    publisher = EventPublisher(settings, "test", max_in_flight=settings.events_max_in_flight)
    producer = publisher._producer = _StalledProducer()
    before = _dropped("answers")
    big = events_pb2.AnswerEvent(answer="x" * 10_000)
    for index in range(5000):
        publisher.publish("answers", f"k{index}", big)
    await asyncio.sleep(0)
    assert publisher.in_flight == 100
    assert _dropped("answers") - before == 4900
    producer.back.set()
    await publisher.drain(10)
    assert len(producer.sent) == 100 and publisher.in_flight == 0
    publisher.publish("answers", "after", big)  # room again once the broker caught up
    await publisher.drain(10)
    assert producer.sent[-1] == "after"
