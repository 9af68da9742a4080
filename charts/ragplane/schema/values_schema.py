"""Source of charts/ragplane/values.schema.json.

The workload blocks share one shape, and JSON Schema (draft-07, what Helm enforces) cannot extend a closed
object, so the schema is written out from the definitions here. Regenerate after a change:

    python charts/ragplane/schema/values_schema.py

It also writes files/presets/chart-defaults.yaml, the defaults of the values the size presets set (Helm keeps
values.yaml out of .Files). tests/chart checks that both committed files are exactly what this prints. A `latest` tag is
refused by the templates (with a message naming the workload), not here, so the error reads well.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

from ragplane.runtime.services import SERVICE_NAMES, is_internal

SERVICES = SERVICE_NAMES
REMOTE_MODEL_SERVICES = ("embed", "rerank")
# The client-facing services (the service table's `public`): they alone may be exposed (Service type, Ingress,
# GRPCRoute).
PUBLIC_SERVICES = tuple(name for name in SERVICE_NAMES if not is_internal(name))
OUT = pathlib.Path(__file__).resolve().parents[1] / "values.schema.json"

Schema = dict[str, Any]


def obj(properties: dict[str, Schema], description: str = "", required: tuple[str, ...] = ()) -> Schema:
    """A closed object: unknown keys are errors."""
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = list(required)
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/definitions/{name}"}


def string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def integer(description: str = "", minimum: int | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if description:
        schema["description"] = description
    return schema


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", **({"description": description} if description else {})}


def string_map(description: str = "") -> Schema:
    return {
        "type": "object",
        "additionalProperties": {"type": "string"},
        **({"description": description} if description else {}),
    }


def array_of(items: Schema, description: str = "") -> Schema:
    return {"type": "array", "items": items, **({"description": description} if description else {})}


def any_object(description: str = "") -> Schema:
    return {"type": "object", **({"description": description} if description else {})}


DEFINITIONS: dict[str, Schema] = {
    "quantity": {
        "description": "A Kubernetes quantity, e.g. 500m, 2, 4Gi.",
        "oneOf": [
            {
                "type": "string",
                "pattern": r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$",
            },
            {"type": "number", "minimum": 0},
        ],
    },
    "image": obj(
        {
            "repository": string("Image repository; empty: <global.image.registry>/<workload>."),
            "tag": string("Image tag; empty: global.image.tag, then the chart's appVersion. Never latest."),
            "digest": string("sha256:... to pin the image.", pattern=r"^(sha256:[a-f0-9]{64})?$"),
        },
        "Container image.",
    ),
    "pinnedImage": obj(
        {
            "repository": string("Image repository.", minLength=1),
            "tag": string("Image tag (a version, never latest).", minLength=1),
            "digest": string("sha256:... to pin the image.", pattern=r"^(sha256:[a-f0-9]{64})?$"),
        },
        "A third-party image: repository and tag are required.",
        required=("repository", "tag"),
    ),
    "resources": obj(
        {
            "requests": {"type": "object", "additionalProperties": ref("quantity")},
            "limits": {"type": "object", "additionalProperties": ref("quantity")},
        },
        "Container resources (GPUs go in the gpu block, never here).",
    ),
    "gpu": obj(
        {
            "count": integer("GPUs per pod; 0 runs on CPU.", 0),
            "resourceName": ref("resourceName"),
        },
        "GPUs of one pod.",
        required=("count", "resourceName"),
    ),
    "resourceName": string(
        "Extended resource that counts GPUs: nvidia.com/gpu or a MIG profile.",
        pattern=r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$",
    ),
    "toleration": obj(
        {
            "key": string(),
            "operator": string(enum=["Exists", "Equal"]),
            "value": string(),
            "effect": string(enum=["", "NoSchedule", "PreferNoSchedule", "NoExecute"]),
            "tolerationSeconds": integer(minimum=0),
        },
        "A Kubernetes toleration.",
    ),
    "placement_nodeSelector": string_map("Node labels the pods must have (the node pool)."),
    "placement_tolerations": array_of(ref("toleration"), "Taints the pods tolerate (e.g. nvidia.com/gpu)."),
    "placement_affinity": obj(
        {
            "nodeAffinity": any_object(),
            "podAffinity": any_object(),
            "podAntiAffinity": any_object(),
        },
        "Kubernetes affinity.",
    ),
    "podSecurityContext": obj(
        {
            "runAsUser": integer("User id; never 0.", 1),
            "runAsGroup": integer("Group id; never 0.", 1),
            "fsGroup": integer("Group owning mounted volumes.", 0),
        },
        "The ids the pod runs as; the rest of the hardened context is fixed.",
    ),
    "probe": obj(
        {
            "periodSeconds": integer(minimum=1),
            "failureThreshold": integer(minimum=1),
        }
    ),
    "probes": obj(
        {
            "startup": ref("probe"),
            "readiness": ref("probe"),
            "liveness": ref("probe"),
        },
        "Probe timing; startup allows periodSeconds x failureThreshold for model loading.",
    ),
    "pdb": obj(
        {
            "maxUnavailable": {
                "oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^[0-9]{1,3}%$"}]
            },
        },
        "PodDisruptionBudget.",
        required=("maxUnavailable",),
    ),
    "hpa": obj(
        {
            "enabled": boolean("Create a HorizontalPodAutoscaler on CPU."),
            "minReplicas": integer(minimum=1),
            "maxReplicas": integer(minimum=1),
            "targetCPUUtilizationPercentage": integer(minimum=1, maximum=100),
        },
        "HorizontalPodAutoscaler; not for targets the ragplane autoscaler manages.",
    ),
    "env": {
        "type": "object",
        "description": "Extra environment: NAME: value (ConfigMap) or NAME: {valueFrom: ...} (container env).",
        "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {
            "oneOf": [
                {"type": ["string", "number", "boolean"]},
                obj({"valueFrom": any_object()}, required=("valueFrom",)),
            ]
        },
    },
    "models": obj(
        {
            "source": string("image: baked into the image; volume: mounted from `volume`.", enum=["image", "volume"]),
            "mountPath": string("Where the volume is mounted (RAGPLANE_MODELS_DIR).", pattern="^/"),
            "volume": any_object("A Kubernetes volume source, e.g. {persistentVolumeClaim: {claimName: models}}."),
        },
        "Where model files come from.",
        required=("source", "mountPath"),
    ),
    "annotations": obj({"annotations": string_map()}),
    "workloadNetworkPolicy": obj(
        {
            "extraIngress": array_of(any_object(), "NetworkPolicy ingress rules added to the computed ones."),
            "extraEgress": array_of(any_object(), "NetworkPolicy egress rules added to the computed ones."),
        }
    ),
    "peer": obj(
        {
            "ipBlock": obj({"cidr": string(), "except": array_of(string())}, required=("cidr",)),
            "namespaceSelector": any_object(),
            "podSelector": any_object(),
        },
        "A NetworkPolicy peer.",
    ),
    "ports": array_of(integer(minimum=1, maximum=65535)),
    "destination": obj(
        {
            "to": array_of(ref("peer"), "Peers to allow (empty: any destination on the ports)."),
            "ports": ref("ports"),
        },
        "Egress destination for the NetworkPolicies.",
    ),
    "secretRef": obj(
        {
            "name": string("Name of an existing Secret; empty: not used."),
            "key": string("Key inside the Secret.", minLength=1),
        },
        "A Secret key, by reference.",
    ),
    "strategy": any_object("Deployment strategy."),
}


def workload_properties(name: str) -> dict[str, Schema]:
    """The keys every workload block has (the same shape for each)."""
    return {
        "replicas": integer("Pod count (ignored while hpa.enabled).", 0),
        "image": ref("pinnedImage") if name == "triton" else ref("image"),
        "resources": ref("resources"),
        "nodeSelector": ref("placement_nodeSelector"),
        "tolerations": ref("placement_tolerations"),
        "affinity": ref("placement_affinity"),
        "topologySpreadConstraints": array_of(any_object(), "Empty: spread over nodes where possible."),
        "priorityClassName": string(),
        "podAnnotations": string_map(),
        "podLabels": string_map(),
        "podSecurityContext": ref("podSecurityContext"),
        "serviceAccount": ref("annotations"),
        "service": ref("annotations"),
        "pdb": ref("pdb"),
        "hpa": ref("hpa"),
        "probes": ref("probes"),
        "env": ref("env"),
        "extraVolumes": array_of(any_object()),
        "extraVolumeMounts": array_of(any_object()),
        "networkPolicy": ref("workloadNetworkPolicy"),
        "strategy": ref("strategy"),
    }


def service_block(name: str) -> Schema:
    properties = {
        "enabled": boolean(f"Deploy {name}."),
        **workload_properties(name),
        "gpu": ref("gpu"),
        "models": ref("models"),
    }
    if name in REMOTE_MODEL_SERVICES:
        properties["remoteModels"] = boolean("Run the models on the chart's inference server (v2 protocol).")
    if name in PUBLIC_SERVICES:
        properties.update(exposure_properties(name))
    return obj(properties, f"The {name} service.")


def exposure_properties(name: str, protocol: str = "gRPC") -> dict[str, Schema]:
    """Service type, Ingress and GRPCRoute (HTTPRoute for the HTTP gateway) of a client-facing service."""
    route, kind = ("httpRoute", "HTTPRoute") if protocol == "HTTP" else ("grpcRoute", "GRPCRoute")
    return {
        "service": obj(
            {
                "annotations": string_map(),
                "type": string(
                    f"Type of the {name} Service; another than ClusterIP publishes only the {protocol} port.",
                    enum=["ClusterIP", "NodePort", "LoadBalancer"],
                ),
                "loadBalancerSourceRanges": array_of(string(pattern=r"^[0-9a-fA-F.:]+/[0-9]{1,3}$")),
            }
        ),
        "ingress": obj(
            {
                "enabled": boolean(f"An Ingress to the {name} {protocol} port."),
                "className": string("IngressClass; empty: the default class."),
                "annotations": string_map(),
                "host": string("Host name the clients dial (required when enabled)."),
                "tls": obj({"secretName": string("kubernetes.io/tls Secret for the host; empty: no tls section.")}),
            }
        ),
        route: obj(
            {
                "enabled": boolean(f"A Gateway API {kind} to {name}."),
                "parentRefs": array_of(
                    obj(
                        {
                            "name": string(minLength=1),
                            "namespace": string(),
                            "sectionName": string(),
                            "port": integer(minimum=1, maximum=65535),
                            "group": string(),
                            "kind": string(),
                        },
                        required=("name",),
                    ),
                    "Gateway listeners to attach to (required when enabled).",
                ),
                "hostnames": array_of(string()),
                "annotations": string_map(),
            }
        ),
    }


def gateway_block() -> Schema:
    """The HTTP gateway: the workload keys, exposure with an HTTPRoute; no GPUs, no models."""
    properties = {"enabled": boolean("Deploy the gateway (the HTTP edge)."), **workload_properties("gateway")}
    properties.update(exposure_properties("gateway", "HTTP"))
    return obj(properties, "The gateway: OpenAI-compatible chat completions and REST over the gRPC services.")


def modelserver_block() -> Schema:
    return obj(
        {
            "enabled": boolean("Deploy the model server when llm.server is modelserver."),
            **workload_properties("modelserver"),
            "gpu": ref("gpu"),
            "models": ref("models"),
        },
        "The CPU model server, deployed when llm.server is modelserver.",
    )


def triton_block() -> Schema:
    return obj(
        {
            "enabled": boolean("Deploy Triton when llm.server is triton."),
            **workload_properties("triton"),
            "gpu": obj(
                {
                    "tensorParallelSize": integer("GPUs a layer is split over.", 1),
                    "pipelineParallelSize": integer("Pipeline stages.", 1),
                    "resourceName": ref("resourceName"),
                },
                "The GPUs of one replica: tensorParallelSize x pipelineParallelSize, which is also the world size.",
                required=("tensorParallelSize", "pipelineParallelSize", "resourceName"),
            ),
            "shmSize": ref("quantity"),
            "modelRepository": obj(
                {
                    "source": string("pvc or objectStore.", enum=["pvc", "objectStore"]),
                    "pvc": obj({"claimName": string(), "subPath": string()}),
                    "objectStore": obj(
                        {
                            "uri": string(
                                "s3://, gs:// or az:// URI of the repository.", pattern=r"^((s3|gs|az)://.+)?$"
                            ),
                            "credentialsSecret": string("Secret whose keys become the copier's environment."),
                            "sizeLimit": ref("quantity"),
                            "image": ref("pinnedImage"),
                            "networkPolicy": ref("destination"),
                        }
                    ),
                },
                "Where the Triton model repository comes from.",
                required=("source",),
            ),
            "tensorrtLLMModelName": string("The TensorRT-LLM model in the repository.", minLength=1),
            "extraArgs": array_of(string(), "Extra tritonserver arguments."),
            "tls": obj(
                {"enabled": boolean("With global.tls.enabled: serve the gRPC port with TLS (false: plaintext).")},
                "TLS on Triton's gRPC port, following global.tls.",
            ),
            "kserve": obj(
                {
                    "enabled": boolean("Deploy as a KServe InferenceService instead of a Deployment."),
                    "deploymentMode": string(enum=["RawDeployment", "Standard"]),
                    "annotations": string_map(),
                }
            ),
        },
        "Triton + TensorRT-LLM, deployed when llm.server is triton.",
    )


def build() -> Schema:
    global_block = obj(
        {
            "image": obj(
                {
                    "registry": string("Registry/prefix of the ragplane images.", minLength=1),
                    "tag": string("Tag of every ragplane image; empty: appVersion. Never latest."),
                    "pullPolicy": string(enum=["IfNotPresent", "Always", "Never"]),
                    "pullSecrets": array_of(string()),
                }
            ),
            "podSecurityContext": ref("podSecurityContext"),
            "logLevel": string(enum=["DEBUG", "INFO", "WARNING", "ERROR"]),
            "logContent": boolean("Log document text, prompts and answers."),
            "gracePeriodSeconds": integer("RAGPLANE_GRACE_PERIOD_S.", 0),
            "terminationGraceExtraSeconds": integer(minimum=0),
            "defaultDeadlineSeconds": {"type": "number", "exclusiveMinimum": 0},
            "grpc": obj(
                {
                    "lbPolicy": string("RAGPLANE_GRPC_LB_POLICY.", enum=["round_robin", "pick_first"]),
                    "keepaliveSeconds": {"type": "number", "minimum": 10, "maximum": 3600},
                    "dnsRefreshSeconds": {"type": "number", "minimum": 0.1, "maximum": 3600},
                    "maxConnectionAgeSeconds": {"type": "number", "minimum": 1, "maximum": 86400},
                    "maxConnectionAgeGraceSeconds": {"type": "number", "minimum": 0, "maximum": 3600},
                },
                "gRPC between the workloads: per-call balancing over the callee's ready pods (headless Services).",
            ),
            "auth": obj(
                {
                    "allowDevKey": boolean("Accept the local stack's dev key (throw-away clusters only)."),
                    "apiKeys": obj({"secretName": string(), "key": string(minLength=1), "mountAsFile": boolean()}),
                    "serviceToken": obj({"secretName": string(), "key": string(minLength=1)}),
                }
            ),
            "tls": obj(
                {
                    "enabled": boolean("TLS on every ragplane gRPC listener and channel."),
                    "mutual": boolean("Client certificates between the workloads; the service token only with one."),
                    "secretName": string("A kubernetes.io/tls Secret with ca.crt for every workload."),
                    "secrets": string_map("Per-workload Secret names."),
                    "certManager": obj(
                        {
                            "enabled": boolean("One cert-manager Certificate per service."),
                            "issuerRef": obj({"name": string(), "kind": string(enum=["Issuer", "ClusterIssuer"])}),
                            "duration": string(pattern=r"^[0-9]+h$"),
                            "renewBefore": string(pattern=r"^[0-9]+h$"),
                        }
                    ),
                },
                "TLS between the workloads from mounted Secrets (docs/deploy.md).",
            ),
            "otel": obj(
                {
                    "exporter": string(enum=["none", "otlp", "console"]),
                    "endpoint": string("OTLP/gRPC endpoint of the collector."),
                    "resourceAttributes": string(),
                    "networkPolicy": ref("destination"),
                }
            ),
            "metrics": obj(
                {
                    "podAnnotations": boolean(),
                    "serviceMonitor": obj(
                        {
                            "enabled": boolean(),
                            "interval": string(pattern=r"^[0-9]+(ms|s|m|h)$"),
                            "labels": string_map(),
                        }
                    ),
                }
            ),
            "networkPolicy": obj(
                {
                    "enabled": boolean(),
                    "clients": obj({"from": array_of(ref("peer"))}),
                    "prometheus": obj({"from": array_of(ref("peer"))}),
                    "dns": obj(
                        {
                            "to": array_of(ref("peer")),
                            "ports": array_of(
                                obj(
                                    {"port": integer(minimum=1, maximum=65535), "protocol": string(enum=["UDP", "TCP"])}
                                )
                            ),
                        }
                    ),
                }
            ),
        },
        "Settings every workload shares. Open: an umbrella chart's own globals pass through.",
    )
    # An umbrella chart hands its `global` block to every subchart: keys of other charts must not fail ours.
    global_block["additionalProperties"] = True

    kafka = obj(
        {
            "bootstrapServers": string(
                "host:port list of the brokers.", pattern=r"^([^,:\s]+:[0-9]+(,[^,:\s]+:[0-9]+)*)?$"
            ),
            "topicPrefix": string(
                "RAGPLANE_KAFKA_TOPIC_PREFIX of this release's topics and consumer groups (tpl; e.g. "
                "'{{ .Release.Name }}.'); empty: the plain names.",
                maxLength=200,
            ),
            "tls": obj({"enabled": boolean(), "caSecret": ref("secretRef")}),
            "sasl": obj(
                {
                    "enabled": boolean(),
                    "mechanism": string(enum=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
                    "username": string(),
                    "passwordSecret": ref("secretRef"),
                }
            ),
            "topics": obj(
                {
                    "enabled": boolean("Create the topics (Job or KafkaTopics); false: they exist already."),
                    "mode": string(enum=["job", "strimzi"]),
                    "partitions": integer(minimum=1),
                    "replicationFactor": integer(minimum=1),
                    "retentionMs": integer(minimum=-1),
                    "dlqRetentionMs": integer(minimum=-1),
                    "overrides": {
                        "type": "object",
                        "additionalProperties": obj(
                            {
                                "partitions": integer(minimum=1),
                                "replicationFactor": integer(minimum=1),
                                "retentionMs": integer(minimum=-1),
                            }
                        ),
                    },
                    "strimzi": obj(
                        {
                            "clusterName": string(),
                            "namespace": string(),
                            "apiVersion": string(enum=["kafka.strimzi.io/v1", "kafka.strimzi.io/v1beta2"]),
                        }
                    ),
                    "job": obj(
                        {"image": ref("image"), "resources": ref("resources"), "backoffLimit": integer(minimum=0)}
                    ),
                }
            ),
            "networkPolicy": ref("destination"),
        },
        "Kafka (external).",
    )

    schema: Schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "ragplane chart values",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "enabled": boolean(
                "Not read by the chart: the switch an umbrella chart's dependency condition (ragplane.enabled) names."
            ),
            "preset": string(
                "Size preset laid under the values (files/presets/): small or gpu; empty: none.",
                enum=["", "small", "gpu"],
            ),
            "global": global_block,
            "kafka": kafka,
            "redis": obj(
                {
                    "url": string("redis:// or rediss:// URL without a password.", pattern=r"^(rediss?://.+)?$"),
                    "passwordSecret": ref("secretRef"),
                    "caSecret": ref("secretRef"),
                    "networkPolicy": ref("destination"),
                },
                "Redis for caches, sessions and rate limits (external; may evict).",
            ),
            "stateRedis": obj(
                {
                    "url": string(
                        "redis:// or rediss:// URL without a password of the Redis holding ingest's document "
                        "registry; it needs persistence (appendonly yes) and maxmemory-policy noeviction.",
                        pattern=r"^(rediss?://.+)?$",
                    ),
                    "passwordSecret": ref("secretRef"),
                    "caSecret": ref("secretRef"),
                    "networkPolicy": ref("destination"),
                },
                "Redis for durable state (external): the document registry and version sequences.",
            ),
            "qdrant": obj(
                {
                    "url": string("http(s) URL of the Qdrant server.", pattern=r"^(https?://.+)?$"),
                    "apiKeySecret": ref("secretRef"),
                    "caSecret": ref("secretRef"),
                    "collection": obj(
                        {
                            "name": string(
                                "RAGPLANE_QDRANT_COLLECTION: the alias chunks are addressed by.",
                                pattern=r"^[A-Za-z0-9_-]+$",
                            ),
                            "shards": integer("RAGPLANE_QDRANT_SHARDS; 0: Qdrant's default.", minimum=0),
                            "replicationFactor": integer("RAGPLANE_QDRANT_REPLICATION_FACTOR.", minimum=1),
                            "writeConsistency": integer(
                                "RAGPLANE_QDRANT_WRITE_CONSISTENCY, at most replicationFactor.", minimum=1
                            ),
                            "onDiskPayload": boolean("RAGPLANE_QDRANT_ON_DISK_PAYLOAD."),
                            "writeOrdering": string(
                                "RAGPLANE_QDRANT_WRITE_ORDERING.", enum=["weak", "medium", "strong"]
                            ),
                        },
                        "How retrieve creates its collections (behind the alias `name`).",
                    ),
                    "networkPolicy": ref("destination"),
                },
                "Qdrant (external).",
            ),
            "llm": obj(
                {
                    "server": string(enum=["modelserver", "triton", "external"]),
                    "modelName": string(minLength=1),
                    "model": string("RAGPLANE_LLM_MODEL: a packaged model name, a GGUF path, or the engines' model."),
                    "externalAddress": string("host:port when server is external."),
                },
                "The LLM behind generate.",
            ),
            **{name: service_block(name) for name in SERVICES},
            "gateway": gateway_block(),
            "modelserver": modelserver_block(),
            "triton": triton_block(),
            "tests": obj(
                {
                    "enabled": boolean("helm test Pods that health-check every deployed service."),
                    "waitSeconds": integer("Seconds a check retries an unreachable service.", 0),
                    "resources": ref("resources"),
                },
                "helm test.",
            ),
            "observability": obj(
                {
                    "grafanaDashboard": obj(
                        {"enabled": boolean(), "labels": string_map(), "annotations": string_map()}
                    ),
                    "prometheusRule": obj(
                        {
                            "enabled": boolean(),
                            "labels": string_map(),
                            "p99LatencySeconds": {"type": "number", "exclusiveMinimum": 0},
                            "p99For": string(pattern=r"^[0-9]+(s|m|h)$"),
                            "errorRatio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                            "faithfulnessMin": {"type": "number", "minimum": 0, "maximum": 1},
                            "dlqWindow": string(pattern=r"^[0-9]+(s|m|h)$"),
                        }
                    ),
                }
            ),
            "autoscaler": {
                "type": "object",
                "description": "The autoscaler operator (its own templates read this; open for its keys).",
                "additionalProperties": True,
                "properties": {
                    "enabled": boolean(),
                    "image": ref("image"),
                    "resources": ref("resources"),
                    "nodeSelector": ref("placement_nodeSelector"),
                    "tolerations": ref("placement_tolerations"),
                    "affinity": ref("placement_affinity"),
                    "podSecurityContext": ref("podSecurityContext"),
                },
            },
        },
        "definitions": DEFINITIONS,
    }
    return schema


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


PRESETS = OUT.parent / "files" / "presets"
PRESET_DEFAULTS = PRESETS / "chart-defaults.yaml"


def _subset(defaults: Any, wanted: Any) -> Any:
    """The part of ``defaults`` at the paths ``wanted`` names (whole values where ``wanted`` stops nesting)."""
    if not (isinstance(defaults, dict) and isinstance(wanted, dict)):
        return defaults
    return {key: _subset(defaults[key], value) for key, value in wanted.items() if key in defaults}


def render_preset_defaults() -> str:
    """files/presets/chart-defaults.yaml: the chart's defaults of every value a preset sets.

    Helm keeps values.yaml out of ``.Files``, and a preset must know the defaults to leave alone what the user set
    (templates/_presets.tpl), so they are written out here, from values.yaml.
    """
    import yaml

    defaults = yaml.safe_load((OUT.parent / "values.yaml").read_text())
    merged: dict[str, Any] = {}
    for path in sorted(PRESETS.glob("*.yaml")):
        if path != PRESET_DEFAULTS:
            merged = _merge(merged, _subset(defaults, yaml.safe_load(path.read_text())))
    header = (
        "# Generated by charts/ragplane/schema/values_schema.py from values.yaml: the defaults the presets override.\n"
    )
    return header + yaml.safe_dump(merged, sort_keys=True)


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{key: _merge(base.get(key), value) for key, value in extra.items()}}
    return extra


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        stale = [
            path.name
            for path, text in ((OUT, render()), (PRESET_DEFAULTS, render_preset_defaults()))
            if not path.exists() or path.read_text() != text
        ]
        sys.exit(f"{', '.join(stale)} stale: run this script" if stale else 0)
    OUT.write_text(render())
    PRESET_DEFAULTS.write_text(render_preset_defaults())
    print(OUT)
    print(PRESET_DEFAULTS)
