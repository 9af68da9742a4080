"""The CRD as a real API server applies it: defaults filled in, bad objects refused with 422 and a reason."""

from __future__ import annotations

import copy
import json

import pytest

from ragplane_autoscaler.spec import parse_spec

pytestmark = [
    pytest.mark.operator,
    pytest.mark.filterwarnings(
        "ignore::urllib3.exceptions.InsecureRequestWarning"
    ),  # the test kubeconfig skips TLS checks
]

GOOD = {
    "targetRef": {"kind": "Deployment", "name": "embed"},
    "maxReplicas": 4,
    "signals": [
        {
            "name": "lag",
            "kafkaLag": {
                "bootstrapServers": "kafka:9092",
                "consumerGroup": "g",
                "topic": "t",
                "targetLagPerReplica": 100,
            },
        }
    ],
}


def test_the_api_server_fills_the_same_defaults_the_parser_assumes(cluster):
    obj = cluster.autoscaler(cluster.name("defaults"), GOOD)
    spec = obj["spec"]
    assert spec["minReplicas"] == 1 and spec["dryRun"] is False and spec["priority"] == 0
    assert spec["behavior"] == {
        "tolerance": 0.1,
        "scaleUp": {"stabilizationWindowSeconds": 0, "cooldownSeconds": 0},
        "scaleDown": {"stabilizationWindowSeconds": 300, "cooldownSeconds": 0},
    }
    assert parse_spec(spec) == parse_spec(GOOD)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"minReplicas": 5}, "minReplicas must be <= maxReplicas"),
        ({"signals": [{"name": "x"}]}, "exactly one of kafkaLag, prometheus, metricsEndpoint"),
        (
            {"signals": [{"name": "q", "prometheus": {"serverURL": "u", "query": "q", "targetValue": 0}}]},
            "should be greater than 0",
        ),
        (
            {
                "minReplicas": 0,
                "signals": [{"name": "m", "metricsEndpoint": {"url": "u", "metric": "m", "targetValue": 1}}],
            },
            "minReplicas 0 needs a kafkaLag or prometheus signal",
        ),
        ({"targetRef": {"kind": "Job", "name": "x"}}, "Unsupported value"),
        ({"gpu": {"pool": "h100", "tensorParallel": 0}}, "should be greater than or equal to 1"),
    ],
)
def test_the_api_server_refuses_bad_objects(cluster, change, message):
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as err:
        cluster.autoscaler(cluster.name("bad"), {**copy.deepcopy(GOOD), **change})
    assert err.value.status == 422
    assert message in json.loads(err.value.body)["message"]
