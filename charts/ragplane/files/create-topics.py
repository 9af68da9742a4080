"""Create the ragplane topics, or bring existing ones up to the chart's spec.

Runs in a ragplane image (kafka-python and ragplane.runtime are there) as a Helm hook before the services
start. The connection comes from the same RAGPLANE_KAFKA_* variables the services read; the topics from
RAGPLANE_TOPICS, a JSON object rendered by the chart:
    {"ragplane.chunks.v1": {"partitions": 12, "replicationFactor": 3, "retentionMs": 604800000}, ...}
Missing topics are created; existing ones get more partitions when the spec asks for more (Kafka cannot
remove partitions, so fewer is reported and left alone) and their retention.ms set. Every topic gets
max.message.bytes = RAGPLANE_KAFKA_MAX_MESSAGE_BYTES, the limit the services' producers split events under (set
again on every run: altering a topic's configs resets those it does not name). Exit status 0 means every topic
matches.
"""

from __future__ import annotations

import json
import os
import sys
import time

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import IncompatibleBrokerVersion, KafkaError, TopicAlreadyExistsError

from ragplane.runtime.kafka import client_config, topic_configs
from ragplane.runtime.settings import CommonSettings, load_settings

CONNECT_TIMEOUT_S = float(os.environ.get("RAGPLANE_TOPICS_CONNECT_TIMEOUT_S", "120"))


def log(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def connect(settings: CommonSettings) -> KafkaAdminClient:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        try:
            return KafkaAdminClient(**client_config(settings), client_id="ragplane-topics")
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise
            log("broker not reachable yet", error=str(exc))
            time.sleep(2)


def partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    existing = set(admin.list_topics())
    present = [n for n in names if n in existing]
    if not present:
        return {}
    # kafka-python 3 names the key "name", 2.x "topic"
    return {t.get("name") or t["topic"]: len(t["partitions"]) for t in admin.describe_topics(present)}


def configs(want: dict[str, int], settings: CommonSettings) -> dict[str, str]:
    """The configs of a topic: its retention from the spec, the record size limit from the settings."""
    return {"retention.ms": str(want["retentionMs"]), "cleanup.policy": "delete", **topic_configs(settings)}


def main() -> int:
    spec: dict[str, dict[str, int]] = json.loads(os.environ["RAGPLANE_TOPICS"])
    settings = load_settings(CommonSettings)
    admin = connect(settings)
    try:
        counts = partition_counts(admin, list(spec))
        missing = {name: want for name, want in spec.items() if name not in counts}
        if missing:
            try:
                admin.create_topics(
                    {
                        name: {
                            "num_partitions": want["partitions"],
                            "replication_factor": want["replicationFactor"],
                            "configs": configs(want, settings),
                        }
                        for name, want in missing.items()
                    },
                    timeout_ms=60_000,
                )
            except TopicAlreadyExistsError:
                pass  # created concurrently (a service's own ensure_topics); brought to spec below
            log("topics created", topics=sorted(missing))
            counts = partition_counts(admin, list(spec))
        grow = {name: want["partitions"] for name, want in spec.items() if counts.get(name, 0) < want["partitions"]}
        if grow:
            try:
                admin.create_partitions(grow, timeout_ms=60_000)
                log("partitions added", topics=grow)
            except IncompatibleBrokerVersion as exc:  # Kafka-compatible brokers without the API (Tansu)
                log("broker cannot add partitions; topics left as they are", topics=grow, error=str(exc))
        for name, want in spec.items():
            if counts.get(name, 0) > want["partitions"]:
                log(
                    "topic has more partitions than asked; Kafka cannot shrink it",
                    topic=name,
                    partitions=counts[name],
                    wanted=want["partitions"],
                )
        try:
            admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, name, configs=configs(want, settings))
                    for name, want in spec.items()
                ],
                # A topic a service's ensure_topics created has never had retention set; kafka-python's check
                # against the topic's dynamic configs would refuse to set it ("Unrecognized configs").
                raise_on_unknown=False,
            )
        except IncompatibleBrokerVersion as exc:
            log("broker cannot alter topic configs; retention and size limit left as they are", error=str(exc))
        log("topics ready", topics=sorted(spec))
        return 0
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
