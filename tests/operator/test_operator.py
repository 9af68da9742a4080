"""The real operator (kopf's KopfRunner) against a real API server, a real Kafka-protocol broker and real metrics
pages. One operator serves the whole module: reconcile every 0.5 s, a 8-GPU pool named `pool-a`.

Needs RAGPLANE_TEST_KUBECONFIG (see scripts/start-test-apiserver.sh); skips with the reason when it is unset.
"""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest
from support.cluster import wait_for
from support.operator import Gauges, operator, operator_settings

pytestmark = [
    pytest.mark.operator,
    pytest.mark.filterwarnings(
        "ignore::urllib3.exceptions.InsecureRequestWarning"
    ),  # the test kubeconfig skips TLS checks
]
POOL_GPUS = 8


@pytest.fixture(scope="module")
def page():
    g = Gauges()
    yield g
    g.close()


@pytest.fixture(scope="module")
def live(cluster_session, kubeconfig, broker):
    settings = operator_settings(kubeconfig, gpu_pools={"pool-a": POOL_GPUS}, kafka_bootstrap_servers=(broker,))
    with operator(settings) as logs:
        yield settings
    # The test API server has no Events API: the operator must have noticed, and posted none.
    assert "events off" in logs.text
    assert "Failed to post an event" not in logs.text


def metric_spec(url: str, gauge: str, target: float, **extra) -> dict:
    return {
        "name": gauge.replace("_", "-"),
        "metricsEndpoint": {"url": url, "metric": gauge, "targetValue": target, **extra},
    }


def watch(cluster, name: str, seconds: float) -> list[int]:
    """Replica counts seen over a while."""
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.append(cluster.replicas(name))
        time.sleep(0.1)
    return seen


@pytest.mark.integration
def test_scales_a_consumer_up_on_rising_lag_from_a_real_broker_and_to_zero_when_it_catches_up(
    cluster, broker, live, measure
):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.structs import OffsetAndMetadata

    from ragplane_autoscaler.signals import KafkaLagReader
    from ragplane_autoscaler.spec import KafkaLagSignal

    name = cluster.name("embed")
    topic, group = f"ragplane.chunks.{name}.v1", f"{name}-consumers"
    admin = KafkaAdminClient(bootstrap_servers=broker)
    admin.create_topics([NewTopic(topic, 4, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=broker)
    sent = 0

    def produce(n: int) -> None:
        nonlocal sent
        for _ in range(n):  # one record at a time: Tansu reports end offsets correctly only then
            producer.send(topic, b"chunk", partition=sent % 4)
            producer.flush()
            sent += 1

    cluster.deployment(name, 0)
    cluster.autoscaler(
        name,
        {
            "targetRef": {"kind": "Deployment", "name": name},
            "minReplicas": 0,
            "maxReplicas": 8,
            "signals": [
                {
                    "name": "lag",
                    "kafkaLag": {
                        "bootstrapServers": broker,
                        "consumerGroup": group,
                        "topic": topic,
                        "targetLagPerReplica": 10,
                        "activationLag": 5,
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 2}},
        },
    )
    lag_of = KafkaLagReader(timeout_s=5)
    signal = KafkaLagSignal(broker, group, topic, 10)

    def seen_lag() -> float | None:
        entries = cluster.status(name).get("signals") or [{}]
        return entries[0].get("value")

    try:
        produce(3)  # below the activation threshold: the consumers stay at zero
        assert lag_of.read(signal).total == 3  # what the broker reports, before relying on it
        wait_for(lambda: seen_lag() == 3, 10, what="the operator to read lag 3")
        assert set(watch(cluster, name, 1.5)) == {0}

        produce(5)  # lag 8 > activation 5: wake one consumer
        assert lag_of.read(signal).total == 8
        started = time.monotonic()
        wait_for(lambda: cluster.replicas(name) == 1, 10, what="scale from zero to 1")
        wake_s = time.monotonic() - started

        produce(17)  # lag 25 -> ceil(25 / 10) = 3
        started = time.monotonic()
        wait_for(lambda: cluster.replicas(name) == 3, 10, what="scale to 3 on lag 25")
        up_s = time.monotonic() - started

        produce(30)  # lag 55 would want 6, but the topic has 4 partitions
        wait_for(lambda: cluster.replicas(name) == 4, 10, what="scale to the partition count")
        assert set(watch(cluster, name, 1.5)) == {4}
        status = cluster.status(name)
        assert status["signals"][0]["partitions"] == 4 and status["signals"][0]["value"] == 55
        assert cluster.condition(name, "ScalingLimited")["reason"] == "PartitionLimit"

        # the consumers catch up: commit the end offsets, lag 0 -> zero replicas after the 2 s window
        consumer = KafkaConsumer(
            bootstrap_servers=broker, group_id=group, enable_auto_commit=False, session_timeout_ms=6000
        )
        tps = [TopicPartition(topic, p) for p in range(4)]
        consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in consumer.end_offsets(tps).items()})
        consumer.close()
        assert lag_of.read(signal).total == 0
        caught_up = time.monotonic()
        wait_for(lambda: cluster.replicas(name) == 0, 10, what="scale to zero after catching up")
        down_s = time.monotonic() - caught_up
        assert down_s >= 1.5  # held for the scale-down window first
        measure(f"lag: wake {wake_s:.2f}s, 1->3 {up_s:.2f}s, to zero after catch-up {down_s:.2f}s")
    finally:
        producer.close()
        lag_of.close()


def test_two_autoscalers_share_one_gpu_pool_and_the_higher_priority_wins(cluster, page, live, measure):
    llm, batch = cluster.name("llm"), cluster.name("batch")
    for n in (llm, batch):
        cluster.deployment(n, 1)
        page.set(n.replace("-", "_"), 0)
    for n, priority in ((llm, 100), (batch, 1)):
        cluster.autoscaler(
            n,
            {
                "targetRef": {"kind": "Deployment", "name": n},
                "minReplicas": 1,
                "maxReplicas": 4,
                "priority": priority,
                "gpu": {"pool": "pool-a", "tensorParallel": 2},  # each replica is a 2-GPU tensor-parallel group
                "signals": [metric_spec(page.url, n.replace("-", "_"), 10)],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}},
            },
        )
    most = 0

    def pool_state(want: tuple[int, int]):
        nonlocal most
        used = 2 * cluster.replicas(llm) + 2 * cluster.replicas(batch)
        most = max(most, used)
        assert used <= POOL_GPUS, f"pool over budget: {used} GPUs"
        return (cluster.replicas(llm), cluster.replicas(batch)) == want

    page.set(batch.replace("-", "_"), 40)  # batch wants 4 replicas (8 GPUs); the LLM's minimum keeps 2
    wait_for(lambda: pool_state((1, 3)), 15, interval=0.05, what="batch to take the free GPUs")
    page.set(llm.replace("-", "_"), 40)  # the LLM wants 4 too, and has the higher priority
    started = time.monotonic()
    wait_for(lambda: pool_state((3, 1)), 20, interval=0.05, what="the LLM to win the pool from batch")
    handover_s = time.monotonic() - started
    for _ in range(15):
        pool_state((3, 1))
        time.sleep(0.1)
    assert most == POOL_GPUS
    gpu = cluster.status(llm)["gpu"]
    assert (gpu["wantedReplicas"], gpu["grantedReplicas"], gpu["poolBudgetGPUs"]) == (4, 3, POOL_GPUS)
    assert cluster.condition(llm, "ScalingLimited")["reason"] == "GPUBudget"
    # batch went down at once although its own scale-down window is 30 s: the budget is a hard limit
    assert cluster.status(batch)["gpu"]["allocatedReplicas"] == 1
    measure(f"GPU pool hand-over (batch 3->1, llm 1->3): {handover_s:.2f}s, peak {most}/{POOL_GPUS} GPUs")


def test_holds_during_the_scale_down_window_then_scales_down(cluster, page, live, measure):
    name = cluster.name("rerank")
    gauge = name.replace("-", "_")
    window = 4
    cluster.deployment(name, 1)
    page.set(gauge, 30)
    cluster.autoscaler(
        name,
        {
            "targetRef": {"kind": "Deployment", "name": name},
            "maxReplicas": 10,
            "signals": [metric_spec(page.url, gauge, 10)],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}},
        },
    )
    wait_for(lambda: cluster.replicas(name) == 3, 10, what="scale up to 3")
    page.set(gauge, 0)
    dropped = time.monotonic()
    wait_for(
        lambda: (
            cluster.status(name).get("recommendedReplicas") == 3
            and any(r["replicas"] == 1 for r in cluster.status(name)["recommendations"])
        ),
        5,
        what="the low recommendation to be recorded",
    )
    assert cluster.condition(name, "ScalingLimited")["reason"] == "Stabilizing"
    assert "stabilization" in cluster.status(name)["reason"]
    wait_for(lambda: cluster.replicas(name) == 1, window + 5, interval=0.05, what="scale down after the window")
    held_s = time.monotonic() - dropped
    assert window - 0.6 <= held_s <= window + 2.5, held_s
    measure(f"scale-down window {window}s: held {held_s:.2f}s after the signal dropped")

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{live.metrics_port}/metrics", timeout=5).read().decode()
    assert f'ragplane_autoscaler_desired_replicas{{autoscaler="{name}",namespace="{cluster.ns}"}} 1.0' in metrics
    assert f'ragplane_autoscaler_scale_events_total{{autoscaler="{name}",direction="down",' in metrics


def test_refuses_a_target_that_an_hpa_manages_until_the_hpa_is_gone(cluster, page, live):
    name = cluster.name("web")
    gauge = name.replace("-", "_")
    cluster.deployment(name, 2)
    cluster.hpa(f"{name}-hpa", name)
    page.set(gauge, 50)
    cluster.autoscaler(
        name,
        {
            "targetRef": {"kind": "Deployment", "name": name},
            "maxReplicas": 10,
            "signals": [metric_spec(page.url, gauge, 10)],
        },
    )
    wait_for(
        lambda: cluster.condition(name, "AbleToScale").get("reason") == "ManagedByHPA",
        10,
        what="the ManagedByHPA condition",
    )
    assert f"HorizontalPodAutoscaler {name}-hpa" in cluster.condition(name, "AbleToScale")["message"]
    assert cluster.condition(name, "Ready")["status"] == "False"
    assert set(watch(cluster, name, 1.5)) == {2}

    cluster.delete("autoscaling", "v2", "horizontalpodautoscalers", f"{name}-hpa")
    wait_for(lambda: cluster.replicas(name) == 5, 10, what="scaling once the HPA is gone")


def test_dry_run_records_decisions_without_touching_the_target(cluster, page, live):
    name = cluster.name("dry")
    gauge = name.replace("-", "_")
    cluster.deployment(name, 1)
    page.set(gauge, 70)
    cluster.autoscaler(
        name,
        {
            "targetRef": {"kind": "Deployment", "name": name},
            "maxReplicas": 10,
            "dryRun": True,
            "signals": [metric_spec(page.url, gauge, 10)],
        },
    )
    wait_for(lambda: cluster.status(name).get("desiredReplicas") == 7, 10, what="a recorded dry-run decision")
    assert cluster.status(name)["lastDecision"]["applied"] is False
    assert set(watch(cluster, name, 1.0)) == {1}


def test_keeps_deciding_correctly_while_other_writers_cause_409_conflicts(cluster, page, live, measure):
    name = cluster.name("busy")
    gauge = name.replace("-", "_")
    cluster.deployment(name, 1)
    page.set(gauge, 20)
    cluster.autoscaler(
        name,
        {
            "targetRef": {"kind": "Deployment", "name": name},
            "maxReplicas": 10,
            "signals": [metric_spec(page.url, gauge, 10)],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    )
    wait_for(lambda: cluster.replicas(name) == 2, 10, what="scale to 2")
    metrics_url = f"http://127.0.0.1:{live.metrics_port}/metrics"

    def conflicts() -> float:
        page_text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
        line = next(
            (
                ln
                for ln in page_text.splitlines()
                if ln.startswith('ragplane_autoscaler_conflicts_total{object="status"}')
            ),
            "x 0",
        )
        return float(line.split()[-1])

    before = conflicts()
    stop = threading.Event()

    def writer() -> None:  # another controller touching the object's labels as fast as it can
        i = 0
        while not stop.is_set():
            i += 1
            cluster.objects.patch_namespaced_custom_object(
                "ragplane.io",
                "v1alpha1",
                cluster.ns,
                "ragautoscalers",
                name,
                {"metadata": {"labels": {"touch": str(i)}}},
            )

    threads = [threading.Thread(target=writer, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        page.set(gauge, 60)
        wait_for(lambda: cluster.replicas(name) == 6, 15, what="scale to 6 under concurrent writes")
        wait_for(lambda: conflicts() > before, 10, what="the operator to meet a 409")
        page.set(gauge, 40)
        wait_for(lambda: cluster.replicas(name) == 4, 15, what="scale to 4 under concurrent writes")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
    status = cluster.status(name)
    assert (status["currentReplicas"], status["desiredReplicas"]) == (4, 4) or cluster.replicas(name) == 4
    measure(f"409 conflicts met and resolved by re-reading: {conflicts() - before:.0f}")
