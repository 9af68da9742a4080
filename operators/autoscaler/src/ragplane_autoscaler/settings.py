"""Operator settings: typed, frozen, read once from the environment at start."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
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
            namespaces=tuple(n.strip() for n in get("NAMESPACES", "").split(",") if n.strip()),
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
        )


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
