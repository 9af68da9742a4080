"""The RagAutoscaler resource: API coordinates and the spec parsed into typed, frozen values.

The API server validates objects against the CRD's OpenAPI schema and fills its defaults; this parser applies the
same defaults (a unit test keeps the two in step) so that it also accepts objects written before a default
existed, and it raises :class:`SpecError` naming the field for anything the schema cannot express.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "ragplane.io"
VERSION = "v1alpha1"
PLURAL = "ragautoscalers"
KIND = "RagAutoscaler"

# Defaults, mirrored in charts/ragplane/crds/ragautoscalers.ragplane.io.yaml.
DEFAULT_MIN_REPLICAS = 1
DEFAULT_PRIORITY = 0
DEFAULT_TOLERANCE = 0.1
DEFAULT_SCALE_UP_WINDOW_S = 0
DEFAULT_SCALE_DOWN_WINDOW_S = 300
DEFAULT_COOLDOWN_S = 0
DEFAULT_OFFSET_RESET = "earliest"
DEFAULT_AGGREGATE = "sum"
MAX_REPLICAS_LIMIT = 1000


class SpecError(ValueError):
    """A RagAutoscaler spec that cannot be acted on; the message names the field."""


class TargetType(str, enum.Enum):
    """How a signal's value relates to replicas (the HPA's terms).

    AVERAGE_VALUE: the value is a total over all replicas (lag, pending requests); desired = ceil(value / target).
    VALUE: the value is a level each replica sees (queue time, TTFT, KV-cache use); desired = ceil(current * value /
    target).
    """

    AVERAGE_VALUE = "AverageValue"
    VALUE = "Value"


@dataclass(frozen=True)
class TargetRef:
    """The workload to scale."""

    kind: str
    name: str
    api_version: str

    @property
    def group(self) -> str:
        return self.api_version.split("/", 1)[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.split("/", 1)[-1]

    @property
    def plural(self) -> str:
        return TARGET_KINDS[self.kind][1]


# kind -> (default apiVersion, plural)
TARGET_KINDS: dict[str, tuple[str, str]] = {
    "Deployment": ("apps/v1", "deployments"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "InferenceService": ("serving.kserve.io/v1beta1", "inferenceservices"),
}


@dataclass(frozen=True)
class KafkaLagSignal:
    """Consumer-group lag summed over a topic's partitions."""

    bootstrap_servers: str
    consumer_group: str
    topic: str
    target_lag_per_replica: int
    activation_lag: int = 0
    allow_replicas_above_partitions: bool = False
    offset_reset_policy: str = DEFAULT_OFFSET_RESET


@dataclass(frozen=True)
class PrometheusSignal:
    """An instant query against a Prometheus HTTP API (`/api/v1/query`)."""

    server_url: str
    query: str
    target_value: float
    target_type: TargetType = TargetType.AVERAGE_VALUE
    activation_value: float = 0.0
    aggregate: str = DEFAULT_AGGREGATE


@dataclass(frozen=True)
class MetricsEndpointSignal:
    """One metric scraped from a Prometheus text endpoint (Triton's :8002/metrics, a service's metrics port)."""

    url: str
    metric: str
    target_value: float
    labels: tuple[tuple[str, str], ...] = ()
    target_type: TargetType = TargetType.AVERAGE_VALUE
    activation_value: float = 0.0
    aggregate: str = DEFAULT_AGGREGATE


Source = KafkaLagSignal | PrometheusSignal | MetricsEndpointSignal


@dataclass(frozen=True)
class SignalSpec:
    """One named signal; exactly one source is set."""

    name: str
    source: Source

    @property
    def type(self) -> str:
        return SOURCE_TYPES[type(self.source)]


SOURCE_TYPES: dict[type, str] = {
    KafkaLagSignal: "kafkaLag",
    PrometheusSignal: "prometheus",
    MetricsEndpointSignal: "metricsEndpoint",
}


@dataclass(frozen=True)
class ScalingRules:
    """Rate limits for one direction."""

    stabilization_window_s: int
    max_step: int | None = None  # replicas per decision; None = unlimited
    cooldown_s: int = 0  # seconds since the last change before another change in this direction


@dataclass(frozen=True)
class GpuSpec:
    """GPU shape of one replica: a whole tensor-parallel x pipeline-parallel group on one pool."""

    pool: str
    tensor_parallel: int = 1
    pipeline_parallel: int = 1

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel


@dataclass(frozen=True)
class Policy:
    """Everything the pure decision needs from the spec."""

    min_replicas: int
    max_replicas: int
    scale_up: ScalingRules
    scale_down: ScalingRules
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def history_window_s(self) -> int:
        return max(self.scale_up.stabilization_window_s, self.scale_down.stabilization_window_s)


@dataclass(frozen=True)
class AutoscalerSpec:
    """A parsed RagAutoscaler spec."""

    target: TargetRef
    policy: Policy
    signals: tuple[SignalSpec, ...]
    priority: int = DEFAULT_PRIORITY
    gpu: GpuSpec | None = None
    dry_run: bool = False


def parse_spec(spec: Mapping[str, Any]) -> AutoscalerSpec:
    """Parse and check a RagAutoscaler `.spec`.

    Args:
        spec: the object's spec as the API server returns it.

    Returns:
        The typed spec.

    Raises:
        SpecError: a field is missing or out of range; the message names it.
    """
    target = _target(_mapping(spec, "targetRef", required=True))
    max_replicas = _int(spec, "maxReplicas", None, lo=1, hi=MAX_REPLICAS_LIMIT)
    min_replicas = _int(spec, "minReplicas", DEFAULT_MIN_REPLICAS, lo=0, hi=MAX_REPLICAS_LIMIT)
    if min_replicas > max_replicas:
        raise SpecError(f"spec.minReplicas must be <= spec.maxReplicas, but got {min_replicas} > {max_replicas}")
    behavior = _mapping(spec, "behavior")
    tolerance = _float(behavior, "tolerance", DEFAULT_TOLERANCE, path="spec.behavior", lo=0.0)
    if tolerance >= 1.0:
        raise SpecError(f"spec.behavior.tolerance must be < 1, but got {tolerance}")
    policy = Policy(
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        scale_up=_rules(_mapping(behavior, "scaleUp"), "spec.behavior.scaleUp", DEFAULT_SCALE_UP_WINDOW_S),
        scale_down=_rules(_mapping(behavior, "scaleDown"), "spec.behavior.scaleDown", DEFAULT_SCALE_DOWN_WINDOW_S),
        tolerance=tolerance,
    )
    raw_signals = spec.get("signals")
    if not isinstance(raw_signals, list) or not raw_signals:
        raise SpecError("spec.signals must list at least one signal")
    signals = tuple(_signal(s, f"spec.signals[{i}]") for i, s in enumerate(raw_signals))
    names = [s.name for s in signals]
    if len(set(names)) != len(names):
        raise SpecError(f"spec.signals names must be unique, but got {names}")
    if min_replicas == 0 and all(isinstance(s.source, MetricsEndpointSignal) for s in signals):
        # A target scaled to zero has no pods to scrape, so nothing would ever wake it.
        raise SpecError("spec.minReplicas 0 needs a kafkaLag or prometheus signal to wake the target from zero")
    gpu = None
    raw_gpu = _mapping(spec, "gpu")
    if raw_gpu:
        pool = raw_gpu.get("pool")
        if not isinstance(pool, str) or not pool:
            raise SpecError("spec.gpu.pool must be a non-empty string")
        gpu = GpuSpec(
            pool=pool,
            tensor_parallel=_int(raw_gpu, "tensorParallel", 1, path="spec.gpu", lo=1, hi=64),
            pipeline_parallel=_int(raw_gpu, "pipelineParallel", 1, path="spec.gpu", lo=1, hi=64),
        )
    dry_run = spec.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise SpecError(f"spec.dryRun must be a boolean, but got {dry_run!r}")
    return AutoscalerSpec(
        target=target,
        policy=policy,
        signals=signals,
        priority=_int(spec, "priority", DEFAULT_PRIORITY, lo=-(2**31), hi=2**31 - 1),
        gpu=gpu,
        dry_run=dry_run,
    )


def _target(ref: Mapping[str, Any]) -> TargetRef:
    kind = ref.get("kind")
    if kind not in TARGET_KINDS:
        raise SpecError(f"spec.targetRef.kind must be one of {sorted(TARGET_KINDS)}, but got {kind!r}")
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError("spec.targetRef.name must be a non-empty string")
    api_version = ref.get("apiVersion") or TARGET_KINDS[kind][0]
    if not isinstance(api_version, str) or "/" not in api_version:
        raise SpecError(f"spec.targetRef.apiVersion must look like group/version, but got {api_version!r}")
    return TargetRef(kind=kind, name=name, api_version=api_version)


def _rules(raw: Mapping[str, Any], path: str, default_window: int) -> ScalingRules:
    max_step = raw.get("maxStep")
    return ScalingRules(
        stabilization_window_s=_int(raw, "stabilizationWindowSeconds", default_window, path=path, lo=0, hi=86400),
        max_step=None if max_step is None else _int(raw, "maxStep", None, path=path, lo=1, hi=MAX_REPLICAS_LIMIT),
        cooldown_s=_int(raw, "cooldownSeconds", DEFAULT_COOLDOWN_S, path=path, lo=0, hi=86400),
    )


def _signal(raw: Any, path: str) -> SignalSpec:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{path} must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{path}.name must be a non-empty string")
    present = [k for k in ("kafkaLag", "prometheus", "metricsEndpoint") if raw.get(k) is not None]
    if len(present) != 1:
        raise SpecError(f"{path} must set exactly one of kafkaLag, prometheus, metricsEndpoint, but got {present}")
    kind = present[0]
    body = _mapping(raw, kind, path=path)
    sub = f"{path}.{kind}"
    source: Source
    if kind == "kafkaLag":
        policy = body.get("offsetResetPolicy", DEFAULT_OFFSET_RESET)
        if policy not in ("earliest", "latest"):
            raise SpecError(f"{sub}.offsetResetPolicy must be earliest or latest, but got {policy!r}")
        source = KafkaLagSignal(
            bootstrap_servers=_str(body, "bootstrapServers", sub),
            consumer_group=_str(body, "consumerGroup", sub),
            topic=_str(body, "topic", sub),
            target_lag_per_replica=_int(body, "targetLagPerReplica", None, path=sub, lo=1, hi=2**62),
            activation_lag=_int(body, "activationLag", 0, path=sub, lo=0, hi=2**62),
            allow_replicas_above_partitions=bool(body.get("allowReplicasAbovePartitions", False)),
            offset_reset_policy=policy,
        )
    elif kind == "prometheus":
        source = PrometheusSignal(
            server_url=_str(body, "serverURL", sub),
            query=_str(body, "query", sub),
            target_value=_positive(body, "targetValue", sub),
            target_type=_target_type(body, sub),
            activation_value=_float(body, "activationValue", 0.0, path=sub, lo=0.0),
            aggregate=_aggregate(body, sub),
        )
    else:
        labels = _mapping(body, "labels", path=sub)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise SpecError(f"{sub}.labels must map strings to strings")
        source = MetricsEndpointSignal(
            url=_str(body, "url", sub),
            metric=_str(body, "metric", sub),
            target_value=_positive(body, "targetValue", sub),
            labels=tuple(sorted(labels.items())),
            target_type=_target_type(body, sub),
            activation_value=_float(body, "activationValue", 0.0, path=sub, lo=0.0),
            aggregate=_aggregate(body, sub),
        )
    return SignalSpec(name=name, source=source)


def _target_type(body: Mapping[str, Any], path: str) -> TargetType:
    raw = body.get("targetType", TargetType.AVERAGE_VALUE.value)
    try:
        return TargetType(raw)
    except ValueError:
        raise SpecError(f"{path}.targetType must be AverageValue or Value, but got {raw!r}") from None


def _aggregate(body: Mapping[str, Any], path: str) -> str:
    raw = body.get("aggregate", DEFAULT_AGGREGATE)
    if raw not in ("sum", "max", "min", "avg"):
        raise SpecError(f"{path}.aggregate must be one of sum, max, min, avg, but got {raw!r}")
    return raw


def _mapping(obj: Mapping[str, Any], key: str, *, path: str = "spec", required: bool = False) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        if required:
            raise SpecError(f"{path}.{key} is required")
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}.{key} must be an object, but got {value!r}")
    return value


def _str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise SpecError(f"{path}.{key} must be a non-empty string, but got {value!r}")
    return value


def _int(obj: Mapping[str, Any], key: str, default: int | None, *, path: str = "spec", lo: int, hi: int) -> int:
    value = obj.get(key, default)
    if value is None:
        raise SpecError(f"{path}.{key} is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{path}.{key} must be an integer, but got {value!r}")
    if not lo <= value <= hi:
        raise SpecError(f"{path}.{key} must be in [{lo}, {hi}], but got {value}")
    return value


def _float(obj: Mapping[str, Any], key: str, default: float, *, path: str, lo: float) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{path}.{key} must be a number, but got {value!r}")
    if value != value or value < lo:  # NaN or below the bound
        raise SpecError(f"{path}.{key} must be >= {lo}, but got {value}")
    return float(value)


def _positive(obj: Mapping[str, Any], key: str, path: str) -> float:
    if key not in obj:
        raise SpecError(f"{path}.{key} is required")
    value = _float(obj, key, 0.0, path=path, lo=0.0)
    if value <= 0:
        raise SpecError(f"{path}.{key} must be > 0, but got {value}")
    return value
