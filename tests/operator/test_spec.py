"""The RagAutoscaler CRD and the spec parser agree, and bad specs are refused with the field named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from ragplane_autoscaler import spec as specmod
from ragplane_autoscaler.settings import Settings, SettingsError, parse_gpu_pools
from ragplane_autoscaler.spec import (
    KafkaLagSignal,
    MetricsEndpointSignal,
    PrometheusSignal,
    SpecError,
    TargetType,
    parse_spec,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "charts" / "ragplane" / "crds" / "ragautoscalers.ragplane.io.yaml"

LLM = {
    "targetRef": {"kind": "InferenceService", "name": "llm"},
    "minReplicas": 1,
    "maxReplicas": 4,
    "priority": 100,
    "gpu": {"pool": "h100", "tensorParallel": 2},
    "signals": [
        {
            "name": "queue",
            "metricsEndpoint": {
                "url": "http://llm:8002/metrics",
                "metric": "nv_inference_pending_request_count",
                "labels": {"model": "llm"},
                "targetValue": 8,
            },
        },
        {
            "name": "ttft",
            "prometheus": {
                "serverURL": "http://prometheus:9090",
                "query": "histogram_quantile(0.95, sum(rate(ttft_bucket[1m])) by (le))",
                "targetValue": 0.5,
                "targetType": "Value",
            },
        },
    ],
    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 600, "maxStep": 1}},
}


@pytest.fixture(scope="module")
def crd() -> dict:
    return yaml.safe_load(CRD_PATH.read_text())


def schema(crd: dict) -> dict:
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def test_llm_spec_parses_with_gpu_groups_and_both_metric_kinds():
    s = parse_spec(LLM)
    assert s.target.kind == "InferenceService" and s.target.api_version == "serving.kserve.io/v1beta1"
    assert s.gpu is not None and s.gpu.gpus_per_replica == 2
    queue, ttft = (sig.source for sig in s.signals)
    assert isinstance(queue, MetricsEndpointSignal) and queue.labels == (("model", "llm"),)
    assert isinstance(ttft, PrometheusSignal) and ttft.target_type is TargetType.VALUE
    assert s.policy.scale_down.max_step == 1 and s.policy.scale_down.stabilization_window_s == 600
    assert s.policy.scale_up.stabilization_window_s == specmod.DEFAULT_SCALE_UP_WINDOW_S


def test_kafka_signal_defaults():
    s = parse_spec(
        {
            "targetRef": {"kind": "Deployment", "name": "embed"},
            "maxReplicas": 8,
            "signals": [
                {
                    "name": "lag",
                    "kafkaLag": {
                        "bootstrapServers": "k:9092",
                        "consumerGroup": "g",
                        "topic": "t",
                        "targetLagPerReplica": 500,
                    },
                }
            ],
        }
    )
    (sig,) = s.signals
    assert sig.type == "kafkaLag"
    assert sig.source == KafkaLagSignal("k:9092", "g", "t", 500, 0, False, "earliest")
    assert s.policy.min_replicas == 1 and s.gpu is None and not s.dry_run


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"minReplicas": 5, "maxReplicas": 2}, "spec.minReplicas"),
        ({"targetRef": {"kind": "Job", "name": "x"}}, "spec.targetRef.kind"),
        ({"signals": []}, "spec.signals"),
        ({"signals": [{"name": "a"}]}, "spec.signals[0]"),
        ({"gpu": {"pool": "h100", "tensorParallel": 0}}, "spec.gpu.tensorParallel"),
        ({"behavior": {"scaleUp": {"maxStep": 0}}}, "spec.behavior.scaleUp.maxStep"),
        ({"behavior": {"tolerance": 1.5}}, "spec.behavior.tolerance"),
        ({"minReplicas": 0, "signals": LLM["signals"][:1]}, "spec.minReplicas 0 needs a kafkaLag or prometheus"),
    ],
)
def test_bad_specs_name_the_field(change, field):
    bad = {**copy.deepcopy(LLM), **change}
    with pytest.raises(SpecError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_spec(bad)


def test_signal_names_must_be_unique():
    bad = copy.deepcopy(LLM)
    bad["signals"][1]["name"] = "queue"
    with pytest.raises(SpecError, match="unique"):
        parse_spec(bad)


def test_crd_is_apiextensions_v1_served_stored_with_status_subresource(crd):
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == f"{specmod.PLURAL}.{specmod.GROUP}"
    assert crd["spec"]["group"] == specmod.GROUP and crd["spec"]["names"]["kind"] == specmod.KIND
    (version,) = crd["spec"]["versions"]
    assert version["name"] == specmod.VERSION and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    assert schema(crd)["properties"]["status"]["properties"]["conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_crd_defaults_match_the_parser_defaults(crd):
    spec = schema(crd)["properties"]["spec"]["properties"]
    sig = spec["signals"]["items"]["properties"]
    behavior = spec["behavior"]["properties"]
    assert spec["minReplicas"]["default"] == specmod.DEFAULT_MIN_REPLICAS
    assert spec["priority"]["default"] == specmod.DEFAULT_PRIORITY
    assert spec["maxReplicas"]["maximum"] == specmod.MAX_REPLICAS_LIMIT
    assert behavior["tolerance"]["default"] == specmod.DEFAULT_TOLERANCE
    up, down = behavior["scaleUp"]["properties"], behavior["scaleDown"]["properties"]
    assert up["stabilizationWindowSeconds"]["default"] == specmod.DEFAULT_SCALE_UP_WINDOW_S
    assert down["stabilizationWindowSeconds"]["default"] == specmod.DEFAULT_SCALE_DOWN_WINDOW_S
    assert up["cooldownSeconds"]["default"] == down["cooldownSeconds"]["default"] == specmod.DEFAULT_COOLDOWN_S
    assert sig["kafkaLag"]["properties"]["offsetResetPolicy"]["default"] == specmod.DEFAULT_OFFSET_RESET
    for kind in ("prometheus", "metricsEndpoint"):
        assert sig[kind]["properties"]["aggregate"]["default"] == specmod.DEFAULT_AGGREGATE
        assert sig[kind]["properties"]["targetType"]["default"] == TargetType.AVERAGE_VALUE.value
    assert set(spec["targetRef"]["properties"]["kind"]["enum"]) == set(specmod.TARGET_KINDS)


def test_every_spec_field_in_the_crd_is_one_the_parser_reads(crd):
    """A field in the schema that the operator ignores would be a silent lie to users."""
    source = Path(specmod.__file__).read_text()

    def walk(node: dict, path: str):
        for name, sub in (node.get("properties") or {}).items():
            assert f'"{name}"' in source, f"{path}.{name} is in the CRD but spec.py never reads it"
            walk(sub, f"{path}.{name}")
        if "items" in node:
            walk(node["items"], path + "[]")

    walk(schema(crd)["properties"]["spec"], "spec")


def test_settings_from_environment():
    s = Settings.from_env(
        {
            "RAGPLANE_AUTOSCALER_NAMESPACES": "rag, llm",
            "RAGPLANE_AUTOSCALER_INTERVAL_S": "2.5",
            "RAGPLANE_AUTOSCALER_GPU_POOLS": "l4=8, h100=16",
            "RAGPLANE_AUTOSCALER_METRICS_PORT": "0",
        }
    )
    assert s.namespaces == ("rag", "llm") and s.interval_s == 2.5 and s.metrics_port == 0
    assert s.gpu_pools == {"l4": 8, "h100": 16}
    assert Settings.from_env({}) == Settings(kafka={"security_protocol": "PLAINTEXT"})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("INTERVAL_S", "soon"),
        ("INTERVAL_S", "0"),
        ("GPU_POOLS", "l4:8"),
        ("GPU_POOLS", "l4=8,l4=4"),
        ("METRICS_PORT", "-1"),
        ("POST_EVENTS", "maybe"),
        ("KAFKA_SECURITY_PROTOCOL", "TLS"),
    ],
)
def test_bad_settings_name_the_variable(var, value):
    with pytest.raises(SettingsError, match=f"RAGPLANE_AUTOSCALER_{var}"):
        Settings.from_env({f"RAGPLANE_AUTOSCALER_{var}": value})


def test_kafka_security_settings_become_kafka_python_arguments():
    s = Settings.from_env(
        {
            "RAGPLANE_AUTOSCALER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "RAGPLANE_AUTOSCALER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "RAGPLANE_AUTOSCALER_KAFKA_SASL_USERNAME": "ragplane",
            "RAGPLANE_AUTOSCALER_KAFKA_SASL_PASSWORD": "s3cret",
            "RAGPLANE_AUTOSCALER_KAFKA_SSL_CAFILE": "/etc/ragplane/kafka-ca/ca.crt",
        }
    )
    assert s.kafka == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ragplane",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": "/etc/ragplane/kafka-ca/ca.crt",
    }
    assert Settings.from_env({}).kafka == {"security_protocol": "PLAINTEXT"}
    with pytest.raises(SettingsError, match="RAGPLANE_AUTOSCALER_KAFKA_SASL_USERNAME"):
        Settings.from_env({"RAGPLANE_AUTOSCALER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})


def test_gpu_pools_may_be_empty():
    assert parse_gpu_pools("") == {}
