"""kafka.topicPrefix: two releases on one Kafka use disjoint topics (dead-letter topics included) and consumer
groups; the default keeps the architecture's plain names."""

from __future__ import annotations

import dataclasses
import importlib
import json

import pytest
from chart import chartlib
from chart.chartlib import NAMESPACE, parse

from ragplane.runtime.kafka import ALL_TOPICS, dlq_topic

pytestmark = pytest.mark.chart

PER_RELEASE = 'kafka:\n  topicPrefix: "{{ .Release.Name }}."\n'
# Settings fields that name a topic or a consumer group, per Kafka-using service (their defaults are the plain
# names the code puts the prefix in front of).
KAFKA_SERVICES = ("orchestrator", "ingest", "embed", "retrieve", "eval")


def _plain_names() -> tuple[set[str], set[str]]:
    topics, groups = set(), set()
    for service in KAFKA_SERVICES:
        settings = importlib.import_module(f"ragplane_{service}.config").Settings
        for field in dataclasses.fields(settings):
            variable = field.metadata.get("env", "")
            if variable.endswith("_TOPIC"):
                topics.add(field.default)
            elif variable.endswith("_GROUP"):
                groups.add(field.default)
    return topics, groups


def _render(helm, tmp_path, release: str, scenario: str, *sets: str):
    values = tmp_path / "prefix.yaml"
    values.write_text(PER_RELEASE)
    args = ["template", release, str(chartlib.CHART), "--namespace", NAMESPACE]
    args += ["--values", str(chartlib.scenario_file(scenario)), "--values", str(values)]
    for item in sets:
        args += ["--set", item]
    done = chartlib.run_helm(helm, *args)
    assert done.returncode == 0, done.stderr
    return parse(done.stdout)


def _kafka_names(rendered) -> set[str]:
    """Every topic and group name the release's objects and processes use on the broker."""
    plain_topics, plain_groups = _plain_names()
    names: set[str] = set()
    prefixes = {
        cm["data"]["RAGPLANE_KAFKA_TOPIC_PREFIX"]
        for cm in rendered.of_kind("ConfigMap")
        if "RAGPLANE_KAFKA_TOPIC_PREFIX" in (cm.get("data") or {})
    }
    assert len(prefixes) == 1, prefixes  # every Kafka user of the release, and the topic Job, agree
    [prefix] = prefixes
    for topic in plain_topics:
        names |= {prefix + topic, prefix + dlq_topic(topic)}
    names |= {prefix + group for group in plain_groups}
    for cm in rendered.of_kind("ConfigMap"):
        if "RAGPLANE_TOPICS" in (cm.get("data") or {}):
            names |= set(json.loads(cm["data"]["RAGPLANE_TOPICS"]))
    for topic in rendered.of_kind("KafkaTopic"):
        names.add(topic["spec"]["topicName"])
    for scaler in rendered.of_kind("RagAutoscaler"):
        for signal in scaler["spec"]["signals"]:
            if "kafkaLag" in signal:
                names |= {signal["kafkaLag"]["consumerGroup"], signal["kafkaLag"]["topic"]}
    assert all(name.startswith(prefix) for name in names)
    return names


@pytest.mark.parametrize(
    ("scenario", "sets"),
    [
        ("cpu-dev", ("autoscaler.enabled=true", "autoscaler.examples.enabled=true")),  # the topic Job
        ("external-kafka-sasl", ()),  # Strimzi KafkaTopics
    ],
)
def test_two_releases_share_no_topic_and_no_consumer_group(helm, tmp_path, scenario, sets):
    blue = _kafka_names(_render(helm, tmp_path, "blue", scenario, *sets))
    green = _kafka_names(_render(helm, tmp_path, "green", scenario, *sets))
    assert blue and green
    assert not blue & green, sorted(blue & green)
    assert "blue.ragplane.chunks.v1.dlq" in blue and "green.ragplane-embed" in green


def test_the_job_and_the_strimzi_topics_cover_every_topic_the_services_use(helm, tmp_path):
    plain_topics, _ = _plain_names()
    assert plain_topics == set(ALL_TOPICS)
    for scenario in ("cpu-dev", "external-kafka-sasl"):
        rendered = _render(helm, tmp_path, "blue", scenario)
        created = {t["spec"]["topicName"] for t in rendered.of_kind("KafkaTopic")}
        for cm in rendered.of_kind("ConfigMap"):
            created |= set(json.loads((cm.get("data") or {}).get("RAGPLANE_TOPICS", "{}")))
        assert created == {f"blue.{t}" for t in ALL_TOPICS} | {f"blue.{dlq_topic(t)}" for t in ALL_TOPICS}


def test_by_default_the_topics_keep_their_plain_names(rendered_scenarios):
    rendered = rendered_scenarios["cpu-dev"]
    job_config = rendered.get("ConfigMap", f"{chartlib.RELEASE}-ragplane-kafka-topics")["data"]
    assert set(json.loads(job_config["RAGPLANE_TOPICS"])) == set(ALL_TOPICS) | {dlq_topic(t) for t in ALL_TOPICS}
    assert rendered.get("ConfigMap", f"{chartlib.RELEASE}-ragplane-embed")["data"]["RAGPLANE_KAFKA_TOPIC_PREFIX"] == ""


def test_a_prefix_kafka_would_refuse_is_refused_at_render(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], ["kafka.topicPrefix=team a/"], check=False)
    assert done.returncode != 0
    assert "kafka.topicPrefix must render to" in done.stderr
