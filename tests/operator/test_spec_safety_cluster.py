"""The real operator against a real API server refuses RagAutoscalers that name brokers or hosts it does not allow.

Needs RAGPLANE_TEST_KUBECONFIG (see scripts/start-test-apiserver.sh); skips with the reason when it is unset.
"""

from __future__ import annotations

import pytest
from support.cluster import wait_for

pytestmark = [
    pytest.mark.operator,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]


def _ready(cluster, name: str) -> dict:
    conditions = cluster.status(name).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def test_a_foreign_broker_or_a_file_url_in_a_spec_is_refused_in_status_and_nothing_is_scaled(cluster, run_operator):
    lag = {"bootstrapServers": "attacker.example:9092", "consumerGroup": "g", "topic": "t", "targetLagPerReplica": 1}
    prometheus = {"serverURL": "file:///etc/hostname", "query": "up", "targetValue": 1}
    cases = {
        cluster.name("lag"): ({"name": "lag", "kafkaLag": lag}, "spec.signals[0].kafkaLag.bootstrapServers"),
        cluster.name("prom"): ({"name": "prom", "prometheus": prometheus}, "spec.signals[0].prometheus.serverURL"),
    }
    for name, (signal, _) in cases.items():
        cluster.deployment(name, 2)
        cluster.autoscaler(
            name, {"targetRef": {"kind": "Deployment", "name": name}, "maxReplicas": 8, "signals": [signal]}
        )
    with run_operator(kafka_bootstrap_servers=("kafka.internal:9092",)):
        for name, (_, field) in cases.items():
            wait_for(lambda n=name: _ready(cluster, n).get("reason") == "SignalSourceNotAllowed", 15, what=name)
            ready = _ready(cluster, name)
            assert ready["status"] == "False" and ready["message"].startswith(field), ready
            assert "signals" not in cluster.status(name) or not cluster.status(name)["signals"]
            assert cluster.replicas(name) == 2
