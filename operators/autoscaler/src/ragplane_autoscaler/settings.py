"""Operator settings: typed, frozen, read once from the environment at start."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

PREFIX = "RAGPLANE_AUTOSCALER_"


class SettingsError(ValueError):
    """A setting is malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    """How the operator runs.

    Attributes:
        namespaces: namespaces to watch; empty means the whole cluster.
        interval_s: seconds between two reconciliations of one RagAutoscaler.
        gpu_pools: node pool -> GPUs all autoscalers on that pool may use together.
        signal_timeout_s: deadline of one signal read.
        kubeconfig: kubeconfig file; empty means in-cluster service account, then the default kubeconfig.
        metrics_host: address of the operator's own Prometheus endpoint.
        metrics_port: its port; 0 turns it off.
        liveness_endpoint: kopf's health endpoint (URL), empty for none.
        post_events: "auto" (post Kubernetes Events when the API has them), "true" or "false".
        finalizer: the finalizer kopf puts on RagAutoscalers (it stops the timer cleanly on deletion).
        log_format: "json" or "plain".
        kafka: extra kafka-python client settings for every Kafka lag signal (security protocol, SASL, CA file).
        kafka_bootstrap_servers: the brokers those settings are for, the only ones a Kafka lag signal may name.
        signal_hosts: hosts (``host`` or ``host:port``) Prometheus and metrics-endpoint signals may fetch from.
    """

    namespaces: tuple[str, ...] = ()
    interval_s: float = 15.0
    gpu_pools: Mapping[str, int] = field(default_factory=dict)
    signal_timeout_s: float = 5.0
    kubeconfig: str = ""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9180
    liveness_endpoint: str = "http://127.0.0.1:8080/healthz"
    post_events: str = "auto"
    finalizer: str = "ragplane.io/autoscaler"
    log_format: str = "json"
    kafka: Mapping[str, str] = field(default_factory=dict)
    kafka_bootstrap_servers: tuple[str, ...] = ()
    signal_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `RAGPLANE_AUTOSCALER_*` variables.

        Raises:
            SettingsError: a variable is malformed; the message names it.
        """
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(PREFIX + name, default).strip()

        post_events = get("POST_EVENTS", "auto").lower()
        if post_events not in ("auto", "true", "false"):
            raise SettingsError(f"{PREFIX}POST_EVENTS must be auto, true or false, but got {post_events!r}")
        log_format = get("LOG_FORMAT", "json").lower()
        if log_format not in ("json", "plain"):
            raise SettingsError(f"{PREFIX}LOG_FORMAT must be json or plain, but got {log_format!r}")
        return cls(
            namespaces=_csv(get("NAMESPACES", "")),
            interval_s=_number(PREFIX + "INTERVAL_S", get("INTERVAL_S", "15"), minimum=0.1),
            gpu_pools=parse_gpu_pools(get("GPU_POOLS", "")),
            signal_timeout_s=_number(PREFIX + "SIGNAL_TIMEOUT_S", get("SIGNAL_TIMEOUT_S", "5"), minimum=0.1),
            kubeconfig=get("KUBECONFIG", ""),
            metrics_host=get("METRICS_HOST", "127.0.0.1"),
            metrics_port=int(_number(PREFIX + "METRICS_PORT", get("METRICS_PORT", "9180"), minimum=0, integer=True)),
            liveness_endpoint=get("LIVENESS_ENDPOINT", "http://127.0.0.1:8080/healthz"),
            post_events=post_events,
            finalizer=get("FINALIZER", "ragplane.io/autoscaler"),
            log_format=log_format,
            kafka=_kafka_client_settings(get),
            kafka_bootstrap_servers=_csv(get("KAFKA_BOOTSTRAP_SERVERS", "")),
            signal_hosts=_csv(get("SIGNAL_HOSTS", "")),
        )


KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _kafka_client_settings(get: Callable[[str, str], str]) -> dict[str, str]:
    """kafka-python keyword arguments from RAGPLANE_AUTOSCALER_KAFKA_* (the services' cluster credentials)."""
    protocol = get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
    if protocol not in KAFKA_PROTOCOLS:
        raise SettingsError(
            f"{PREFIX}KAFKA_SECURITY_PROTOCOL must be one of {', '.join(KAFKA_PROTOCOLS)}, but got {protocol!r}"
        )
    out = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):
        mechanism = get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").upper()
        if mechanism not in KAFKA_MECHANISMS:
            raise SettingsError(
                f"{PREFIX}KAFKA_SASL_MECHANISM must be one of {', '.join(KAFKA_MECHANISMS)}, but got {mechanism!r}"
            )
        username = get("KAFKA_SASL_USERNAME", "")
        if not username:
            raise SettingsError(f"{PREFIX}KAFKA_SASL_USERNAME must be set with security protocol {protocol}")
        out.update(
            sasl_mechanism=mechanism, sasl_plain_username=username, sasl_plain_password=get("KAFKA_SASL_PASSWORD", "")
        )
    cafile = get("KAFKA_SSL_CAFILE", "")
    if cafile and protocol.endswith("SSL"):
        out["ssl_cafile"] = cafile
    return out


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def parse_gpu_pools(raw: str) -> dict[str, int]:
    """Parse `pool=gpus,pool2=gpus` into a mapping.

    Raises:
        SettingsError: an entry is not `name=non-negative integer`, or a pool repeats.
    """
    pools: dict[str, int] = {}
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        name, sep, gpus = entry.partition("=")
        name = name.strip()
        if not sep or not name or not gpus.strip().isdigit():
            raise SettingsError(f"{PREFIX}GPU_POOLS entries must look like pool=8, but got {entry!r}")
        if name in pools:
            raise SettingsError(f"{PREFIX}GPU_POOLS names pool {name!r} twice")
        pools[name] = int(gpus)
    return pools


def _number(var: str, raw: str, *, minimum: float, integer: bool = False) -> float:
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise SettingsError(f"{var} must be {kind}, but got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{var} must be >= {minimum:g}, but got {raw!r}")
    return value
