"""`.status` of a RagAutoscaler: the decision state that must survive restarts, and what users read.

Everything the decision remembers (the stabilization history, the last scale time) is written here, never kept in
memory, so a restarted operator continues exactly where the previous one stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .budget import Claim, Grant
from .decision import Decision, Reading, State
from .spec import AutoscalerSpec, SpecError, parse_spec

# ScalingLimited reasons, most important first.
LIMIT_REASONS = (
    ("gpuBudget", "GPUBudget"),
    ("stabilization", "Stabilizing"),
    ("cooldown", "Cooldown"),
    ("maxStep", "MaxStep"),
    ("partitions", "PartitionLimit"),
    ("maxReplicas", "TooManyReplicas"),
    ("minReplicas", "TooFewReplicas"),
)


def iso(t: float) -> str:
    """RFC 3339 with milliseconds, UTC."""
    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(raw: Any) -> float | None:
    """Seconds since the epoch from an RFC 3339 string; None when absent or malformed."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def state_from(status: Mapping[str, Any], current_replicas: int) -> State:
    """The decision state persisted in `.status` (an empty status is a fresh start)."""
    history = []
    for entry in status.get("recommendations") or []:
        t = parse_time(entry.get("time")) if isinstance(entry, Mapping) else None
        n = entry.get("replicas") if isinstance(entry, Mapping) else None
        if t is not None and isinstance(n, int) and n >= 0:
            history.append((t, n))
    return State(
        current_replicas=current_replicas,
        recommendations=tuple(history),
        last_scale_time=parse_time(status.get("lastScaleTime")),
    )


def condition(type_: str, ok: bool, reason: str, message: str) -> dict[str, str]:
    return {"type": type_, "status": "True" if ok else "False", "reason": reason, "message": message[:1024]}


def merge_conditions(
    previous: list[Mapping[str, Any]] | None, new: list[dict[str, str]], now: float
) -> list[dict[str, str]]:
    """New conditions, keeping lastTransitionTime where a condition's status did not change."""
    before = {c.get("type"): c for c in previous or [] if isinstance(c, Mapping)}
    merged = []
    for c in new:
        old = before.get(c["type"])
        changed = old is None or old.get("status") != c["status"]
        since = iso(now) if changed else old.get("lastTransitionTime") or iso(now)
        merged.append({**c, "lastTransitionTime": since})
    return merged


def signal_entries(readings: tuple[Reading, ...], decision: Decision | None) -> list[dict[str, Any]]:
    """Per-signal values for `.status.signals`."""
    wanted = {s.name: s.replicas for s in decision.signals} if decision else {}
    entries = []
    for r in readings:
        entry: dict[str, Any] = {
            "name": r.name,
            "value": r.value,
            "target": r.target,
            "targetType": r.target_type.value,
            "active": r.active,
            "replicas": wanted.get(r.name),
        }
        if r.partitions is not None:
            entry["partitions"] = r.partitions
        if r.error:
            entry["error"] = r.error[:1024]
        entries.append(entry)
    return entries


def limited_condition(decision: Decision) -> dict[str, str]:
    for limit, reason in LIMIT_REASONS:
        if limit in decision.limits:
            return condition("ScalingLimited", True, reason, decision.reason)
    return condition("ScalingLimited", False, "DesiredWithinRange", "the signals' recommendation is applied as is")


def gpu_entry(spec: AutoscalerSpec, claim: Claim, grant_: Grant | None) -> dict[str, Any]:
    """`.status.gpu`: this autoscaler's claim on its pool, which the other autoscalers on the pool read."""
    assert spec.gpu is not None
    entry: dict[str, Any] = {
        "pool": spec.gpu.pool,
        "gpusPerReplica": spec.gpu.gpus_per_replica,
        "wantedReplicas": claim.wanted_replicas,
        "heldReplicas": claim.held_replicas,
    }
    if grant_ is not None:
        entry.update(
            grantedReplicas=grant_.replicas,
            allocatedReplicas=grant_.allocated,
            poolBudgetGPUs=grant_.pool_budget,
            poolUsedGPUs=grant_.pool_used,
        )
    return entry


def peer_claim(obj: Mapping[str, Any], pool: str) -> Claim | None:
    """Another RagAutoscaler's claim on `pool`, from its spec and the status it last wrote; None if not on it."""
    try:
        spec = parse_spec(obj.get("spec") or {})
    except SpecError:
        return None
    if spec.gpu is None or spec.gpu.pool != pool:
        return None
    status = obj.get("status") or {}
    gpu = status.get("gpu") or {}
    if gpu.get("pool") == pool and "heldReplicas" in gpu:
        held = _int(gpu.get("heldReplicas"))  # kept current by its own autoscaler, also right after a scale-down
        wanted = _int(gpu.get("wantedReplicas"))
    else:  # never reconciled on this pool yet: assume it holds what its status last saw
        held = max(_int(status.get("currentReplicas")), _int(status.get("desiredReplicas")))
        wanted = spec.policy.min_replicas
    meta = obj.get("metadata") or {}
    return Claim(
        key=f"{meta.get('namespace')}/{meta.get('name')}",
        priority=spec.priority,
        gpus_per_replica=spec.gpu.gpus_per_replica,
        min_replicas=spec.policy.min_replicas,
        wanted_replicas=wanted,
        held_replicas=held,
    )


def _int(raw: Any) -> int:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0 else 0
