"""Two installations on one broker, told apart by RAGPLANE_KAFKA_TOPIC_PREFIX: neither sees the other's events,
dead letters or consumer groups (the real Kafka-protocol broker)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from kafka.admin import KafkaAdminClient

from ragplane.cli.main import main
from ragplane.runtime.kafka import (
    TOPIC_INDEXED,
    ConsumerOptions,
    ConsumerRunner,
    EventProducer,
    PoisonMessage,
    ensure_topics,
)
from ragplane.runtime.settings import CommonSettings, SettingsError, load_settings
from ragplane.v1 import events_pb2

pytestmark = pytest.mark.integration

FAST = ConsumerOptions(batch_size=16, batch_wait_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.2)
GROUP = "ragplane-index-writer"


class _Seen:
    def __init__(self) -> None:
        self.docs: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, batch) -> None:
        for envelope in batch:
            if envelope.message.doc_id.startswith("poison"):
                raise PoisonMessage(f"cannot index {envelope.message.doc_id}")
        with self.lock:
            self.docs.extend(e.message.doc_id for e in batch)


def _wait(predicate, what, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what()}"
        time.sleep(0.05)


def test_two_prefixes_on_one_broker_do_not_see_each_others_events(kafka_bootstrap, capsys):
    run = uuid.uuid4().hex[:8]
    installs = {
        name: load_settings(
            CommonSettings, {"RAGPLANE_KAFKA_TOPIC_PREFIX": f"{name}-{run}."}, kafka_bootstrap=kafka_bootstrap
        )
        for name in ("blue", "green")
    }
    seen = {name: _Seen() for name in installs}
    runners, producers = {}, {}
    try:
        for name, settings in installs.items():
            ensure_topics(settings, [TOPIC_INDEXED], partitions=1)
            runner = ConsumerRunner(
                settings,
                topic=TOPIC_INDEXED,
                group=GROUP,
                message_type=events_pb2.IndexedEvent,
                handler=seen[name],
                options=FAST,
            )
            runner.start()
            runners[name] = runner
            producers[name] = EventProducer(settings, f"test-{name}")
        for name, runner in runners.items():
            assert runner.wait_assigned(60), name
            assert runner.topic == f"{name}-{run}.{TOPIC_INDEXED}"
            assert runner.group == f"{name}-{run}.{GROUP}"
        for name, producer in producers.items():
            for doc in (f"{name}-1", f"{name}-2", f"poison-{name}"):
                producer.send(TOPIC_INDEXED, f"t/{doc}", events_pb2.IndexedEvent(tenant="t", doc_id=doc))
        _wait(
            lambda: all(len(seen[n].docs) >= 2 and r.dead_lettered >= 1 for n, r in runners.items()),
            what=lambda: {n: (seen[n].docs, r.dead_lettered, r.handled, repr(r.error)) for n, r in runners.items()},
        )
        time.sleep(1.0)  # anything that leaked across would have arrived by now
        assert sorted(seen["blue"].docs) == ["blue-1", "blue-2"]
        assert sorted(seen["green"].docs) == ["green-1", "green-2"]
        assert runners["blue"].dead_lettered == runners["green"].dead_lettered == 1

        admin = KafkaAdminClient(bootstrap_servers=[kafka_bootstrap])
        try:
            topics = {t for t in admin.list_topics() if run in t}
        finally:
            admin.close()
        assert topics == {f"{name}-{run}.{TOPIC_INDEXED}{suffix}" for name in installs for suffix in ("", ".dlq")}
    finally:
        for runner in runners.values():
            runner.stop()
        for producer in producers.values():
            producer.close()

    # the operator's tool reads one installation's dead letters with its prefix
    code = main(
        ["dlq", "list", TOPIC_INDEXED, "--bootstrap", kafka_bootstrap, "--topic-prefix", f"blue-{run}.", "--json"]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["dlq"] == f"blue-{run}.{TOPIC_INDEXED}.dlq"
    assert sum(p["records"] for p in out["partitions"]) == 1
    assert [r["group"] for r in out["reasons"]] == [f"blue-{run}.{GROUP}"]


def test_a_prefix_kafka_would_refuse_stops_the_start_naming_the_variable():
    with pytest.raises(SettingsError, match="RAGPLANE_KAFKA_TOPIC_PREFIX"):
        load_settings(CommonSettings, {"RAGPLANE_KAFKA_TOPIC_PREFIX": "rel one/"})
