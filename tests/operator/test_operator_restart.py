"""The operator keeps its stabilization state across a restart, because that state lives in `.status`.

A fresh operator that knew nothing would scale down at once on a low signal; this one must keep holding until the
window that began before the restart has passed. Runs its own operators (never beside test_operator.py's).
"""

from __future__ import annotations

import time

import pytest
from support.cluster import wait_for

from ragplane_autoscaler.status import parse_time

pytestmark = [
    pytest.mark.operator,
    pytest.mark.filterwarnings(
        "ignore::urllib3.exceptions.InsecureRequestWarning"
    ),  # the test kubeconfig skips TLS checks
]


def test_recovers_the_stabilization_window_after_an_operator_restart(cluster, gauges, run_operator, measure):
    name = cluster.name("restart")
    gauge = name.replace("-", "_")
    window = 8
    cluster.deployment(name, 1)
    gauges.set(gauge, 30)
    cluster.autoscaler(
        name,
        {
            "targetRef": {"kind": "Deployment", "name": name},
            "maxReplicas": 10,
            "signals": [{"name": "queue", "metricsEndpoint": {"url": gauges.url, "metric": gauge, "targetValue": 10}}],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": window}},
        },
    )

    with run_operator():
        wait_for(lambda: cluster.replicas(name) == 3, 10, what="scale up to 3")
        gauges.set(gauge, 0)
        wait_for(
            lambda: any(r["replicas"] == 1 for r in cluster.status(name).get("recommendations", [])),
            5,
            what="the low recommendation to be recorded",
        )
        assert cluster.replicas(name) == 3

    history = {r["replicas"]: parse_time(r["time"]) for r in cluster.status(name)["recommendations"]}
    last_high = history[3]  # the window runs from the last time 3 was recommended
    stopped_at = time.time()
    assert stopped_at - last_high < window - 3, "the restart must happen early in the window to test anything"

    with run_operator():
        restarted_at = time.time()
        held = []
        while time.time() < last_high + window - 0.5:
            held.append(cluster.replicas(name))
            time.sleep(0.1)
        assert set(held) == {3}, "a restarted operator scaled down inside the window it inherited"
        status = cluster.status(name)
        # ...and not because it had not started yet: it has been deciding, and holding, since the restart
        assert parse_time(status["lastEvaluationTime"]) > stopped_at + 1
        assert status["recommendedReplicas"] == 3 and "stabilization" in status["reason"]
        wait_for(lambda: cluster.replicas(name) == 1, 5, interval=0.05, what="scale down once the window passed")
        scaled_at = parse_time(cluster.status(name)["lastScaleTime"])

    assert scaled_at >= last_high + window
    measure(
        f"restart: window {window}s, old operator stopped {stopped_at - last_high:.2f}s into it; the new one held"
        f" {last_high + window - restarted_at:.2f}s more and scaled down {scaled_at - (last_high + window):.2f}s"
        " after the window ended"
    )
