"""One reconciliation of one RagAutoscaler: read, decide, record in `.status`, then scale.

Order matters: the decision is written to `.status` first (guarded by resourceVersion, so a concurrent change makes
us re-read and decide again) and applied to the target afterwards. For GPU targets the status write happens under
the pool's lock, so the next autoscaler on the pool sees this one's claim before it decides.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import budget
from .decision import Decision, Reading, apply_grant, decide
from .kube import Conflict, Kube, KubeError, NotFound
from .metrics import OperatorMetrics
from .settings import Settings
from .signals import SignalReader
from .sources import check_sources
from .spec import AutoscalerSpec, SpecError, parse_spec
from .status import (
    condition,
    gpu_entry,
    iso,
    limited_condition,
    merge_conditions,
    peer_claim,
    signal_entries,
    state_from,
)

STATUS_ATTEMPTS = 5


@dataclass
class Context:
    """What a reconciliation needs; built once per operator run (kopf's memo holds it)."""

    kube: Kube
    signals: SignalReader
    metrics: OperatorMetrics
    settings: Settings
    clock: Callable[[], float] = time.time
    pool_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def pool_lock(self, pool: str) -> asyncio.Lock:
        return self.pool_locks.setdefault(pool, asyncio.Lock())


@dataclass(frozen=True)
class Outcome:
    """What happened, for logs, metrics and tests."""

    kind: str  # "scaled", "held", "dry-run", "refused", "invalid", "target-missing", "gone", "stale"
    current: int | None = None
    desired: int | None = None
    reason: str = ""
    notify: bool = False  # a refusal that is new since the last run (worth a Kubernetes Event)


async def reconcile(ctx: Context, namespace: str, name: str, logger: logging.Logger | Any) -> Outcome:
    """Reconcile one RagAutoscaler.

    Raises:
        KubeError: the API server failed in a way worth retrying on the next run.
    """
    started = time.monotonic()
    try:
        outcome = await _reconcile(ctx, namespace, name, logger)
    except Exception:
        ctx.metrics.reconciles.labels("error").inc()
        raise
    ctx.metrics.reconciles.labels(outcome.kind).inc()
    ctx.metrics.reconcile_seconds.observe(time.monotonic() - started)
    return outcome


async def _reconcile(ctx: Context, namespace: str, name: str, logger: Any) -> Outcome:
    try:
        obj = await ctx.kube.get_autoscaler(namespace, name)
    except NotFound:
        return Outcome("gone")
    try:
        spec = parse_spec(obj.get("spec") or {})
    except SpecError as e:
        new = await _write_refusal(ctx, obj, "InvalidSpec", str(e), current=None)
        return Outcome("invalid", reason=str(e), notify=new)
    try:
        check_sources(spec, ctx.settings)
    except SpecError as e:
        new = await _write_refusal(ctx, obj, "SignalSourceNotAllowed", str(e), current=None)
        return Outcome("invalid", reason=str(e), notify=new)

    try:
        target = await ctx.kube.read_target(namespace, spec.target)
    except NotFound:
        message = f"{spec.target.kind} {namespace}/{spec.target.name} not found"
        new = await _write_refusal(ctx, obj, "TargetNotFound", message, current=0, spec=spec)
        return Outcome("target-missing", reason=message, notify=new)

    rivals = await _rivals(ctx, obj, spec)
    others = await ctx.kube.foreign_autoscalers(namespace, spec.target, target)
    if others or rivals:
        reason = (
            "ManagedByHPA"
            if any(o.startswith("HorizontalPodAutoscaler") for o in others)
            else ("ManagedByKServe" if others else "ConflictingAutoscaler")
        )
        message = f"refusing to scale {spec.target.kind} {spec.target.name}: it is already scaled by " + ", ".join(
            others + [f"RagAutoscaler {r}" for r in rivals]
        )
        new = await _write_refusal(ctx, obj, reason, message, current=target.replicas, spec=spec)
        if new:
            logger.warning(message)
        return Outcome("refused", current=target.replicas, desired=target.replicas, reason=message, notify=new)

    if spec.gpu is not None and spec.gpu.pool not in ctx.settings.gpu_pools:
        message = (
            f"GPU pool {spec.gpu.pool!r} has no budget in the operator's settings"
            f" (known pools: {sorted(ctx.settings.gpu_pools) or 'none'}); holding at {target.replicas}"
        )
        new = await _write_refusal(ctx, obj, "UnknownGpuPool", message, current=target.replicas, spec=spec)
        return Outcome("refused", current=target.replicas, desired=target.replicas, reason=message, notify=new)

    readings = await ctx.signals.read_all(spec.signals)
    for r in readings:
        ctx.metrics.signal(namespace, name, r.name, r.value)

    decision = await _decide_and_record(ctx, obj, spec, readings, target.replicas)
    if decision is None:
        return Outcome("stale", current=target.replicas, reason="the spec changed while deciding; next run decides")

    current = target.replicas
    ctx.metrics.replicas(namespace, name, current, decision.recommended, decision.desired)
    if decision.desired == current:
        return Outcome("held", current, current, decision.reason)
    if spec.dry_run:
        logger.info(f"dry run: would {decision.reason}")
        return Outcome("dry-run", current, decision.desired, decision.reason)
    try:
        await ctx.kube.scale_target(namespace, spec.target, decision.desired)
    except NotFound:
        return Outcome("target-missing", current, decision.desired, "target deleted before it could be scaled")
    except Conflict as e:
        ctx.metrics.conflicts.labels("scale").inc()
        await _note_failed_scale(ctx, namespace, name, str(e))
        raise
    ctx.metrics.scaled(namespace, name, current, decision.desired)
    if spec.gpu is not None and decision.desired < current:
        await _release_gpus(ctx, namespace, name, decision.desired)
    logger.info(f"{spec.target.kind} {spec.target.name}: {decision.reason}")
    return Outcome("scaled", current, decision.desired, decision.reason)


async def _decide_and_record(
    ctx: Context, obj: Mapping[str, Any], spec: AutoscalerSpec, readings: tuple[Reading, ...], current: int
) -> Decision | None:
    """Decide and write the status, re-reading and deciding again on 409. None when the spec changed meanwhile."""
    meta = obj["metadata"]
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")
    for attempt in range(STATUS_ATTEMPTS):
        if attempt:
            ctx.metrics.conflicts.labels("status").inc()
            obj = await ctx.kube.get_autoscaler(namespace, name)
            if obj["metadata"].get("generation") != generation:
                return None
        now = ctx.clock()
        status = obj.get("status") or {}
        decision = decide(spec.policy, readings, state_from(status, current), now)
        try:
            if spec.gpu is None:
                await _write(ctx, obj, _success_status(obj, spec, readings, decision, current, now, None))
                return decision
            async with ctx.pool_lock(spec.gpu.pool):
                decision, gpu = await _apply_budget(ctx, obj, spec, decision, current)
                await _write(ctx, obj, _success_status(obj, spec, readings, decision, current, now, gpu))
                return decision
        except Conflict:
            continue
    raise Conflict(f"RagAutoscaler {namespace}/{name} kept changing; status not written")


async def _apply_budget(
    ctx: Context, obj: Mapping[str, Any], spec: AutoscalerSpec, decision: Decision, current: int
) -> tuple[Decision, dict[str, Any]]:
    """Cap the decision at the pool's grant. Must run under the pool's lock."""
    assert spec.gpu is not None
    pool = spec.gpu.pool
    meta = obj["metadata"]
    key = f"{meta['namespace']}/{meta['name']}"
    peers = [c for c in (peer_claim(o, pool) for o in await _everyone(ctx)) if c is not None and c.key != key]
    me = budget.Claim(
        key, spec.priority, spec.gpu.gpus_per_replica, spec.policy.min_replicas, decision.recommended, current
    )
    budget_gpus = ctx.settings.gpu_pools[pool]
    g = budget.grant(me, peers, budget_gpus)
    capped = apply_grant(decision, g.replicas, pool)
    # What the others will read: a dry run applies nothing, so it claims and holds only what its target has now.
    published = (
        replace(me, wanted_replicas=current, held_replicas=current)
        if spec.dry_run
        else replace(me, held_replicas=max(current, capped.desired))
    )
    ctx.metrics.pool_budget.labels(pool).set(budget_gpus)
    ctx.metrics.pool_used.labels(pool).set(g.pool_used)
    return capped, gpu_entry(spec, published, g)


async def _everyone(ctx: Context) -> list[dict[str, Any]]:
    """Every RagAutoscaler this operator serves (pools span namespaces; RBAC may stop at the watched ones)."""
    if not ctx.settings.namespaces:
        return await ctx.kube.list_autoscalers(None)
    lists = await asyncio.gather(*(ctx.kube.list_autoscalers(ns) for ns in ctx.settings.namespaces))
    return [o for objs in lists for o in objs]


async def _rivals(ctx: Context, obj: Mapping[str, Any], spec: AutoscalerSpec) -> list[str]:
    """Older RagAutoscalers in the namespace aimed at the same target (the oldest one wins)."""
    meta = obj["metadata"]
    mine = (meta.get("creationTimestamp") or "", meta["name"])
    rivals = []
    peers = await ctx.kube.list_autoscalers(meta["namespace"])
    # The same listing tells which autoscalers were deleted: drop their metric series.
    ctx.metrics.retain(meta["namespace"], {(o.get("metadata") or {}).get("name") for o in peers})
    for other in peers:
        ometa = other.get("metadata") or {}
        ref = (other.get("spec") or {}).get("targetRef") or {}
        if ometa.get("name") == meta["name"] or ometa.get("deletionTimestamp"):
            continue
        if ref.get("kind") == spec.target.kind and ref.get("name") == spec.target.name:
            if (ometa.get("creationTimestamp") or "", ometa.get("name") or "") < mine:
                rivals.append(ometa.get("name"))
    return rivals


def _success_status(
    obj: Mapping[str, Any],
    spec: AutoscalerSpec,
    readings: tuple[Reading, ...],
    decision: Decision,
    current: int,
    now: float,
    gpu: dict[str, Any] | None,
) -> dict[str, Any]:
    old = obj.get("status") or {}
    changed = decision.desired != current
    applied = changed and not spec.dry_run
    errors = [f"{r.name}: {r.error}" for r in readings if r.error]
    if spec.dry_run:
        able = condition("AbleToScale", True, "DryRun", "dry run: decisions are recorded in status, not applied")
    elif applied:
        able = condition("AbleToScale", True, "SucceededRescale", decision.reason)
    else:
        able = condition("AbleToScale", True, "ReadyForNewScale", "the target can be scaled")
    if decision.signals_available:
        active = condition(
            "ScalingActive",
            True,
            "ValidMetricFound",
            "signals read" + (f"; unreadable: {'; '.join(errors)}" if errors else ""),
        )
        ready = condition("Ready", True, "DryRun" if spec.dry_run else "Scaling", decision.reason)
    else:
        active = condition("ScalingActive", False, "FailedGetMetrics", "; ".join(errors) or "no signal could be read")
        ready = condition("Ready", False, "SignalsUnavailable", "; ".join(errors) or "no signal could be read")
    status: dict[str, Any] = {
        "observedGeneration": obj["metadata"].get("generation"),
        "currentReplicas": current,
        "desiredReplicas": decision.desired,
        "recommendedReplicas": decision.recommended,
        "lastEvaluationTime": iso(now),
        "reason": decision.reason,
        "signals": signal_entries(readings, decision),
        "recommendations": [{"time": iso(t), "replicas": n} for t, n in decision.recommendations],
        "gpu": gpu,
        "conditions": merge_conditions(old.get("conditions"), [ready, able, active, limited_condition(decision)], now),
    }
    if changed:
        status["lastDecision"] = {
            "time": iso(now),
            "fromReplicas": current,
            "toReplicas": decision.desired,
            "reason": decision.reason,
            "applied": applied,
        }
    if applied:
        status["lastScaleTime"] = iso(now)
    return status


async def _write_refusal(
    ctx: Context,
    obj: Mapping[str, Any],
    reason: str,
    message: str,
    *,
    current: int | None,
    spec: AutoscalerSpec | None = None,
) -> bool:
    """Record why nothing is scaled; the stabilization history is kept untouched for when scaling resumes.

    Returns:
        True when this refusal is new (the Ready condition had another reason before).
    """
    meta = obj["metadata"]
    before = next(
        (c.get("reason") for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None
    )
    for attempt in range(STATUS_ATTEMPTS):
        if attempt:
            ctx.metrics.conflicts.labels("status").inc()
            obj = await ctx.kube.get_autoscaler(meta["namespace"], meta["name"])
        now = ctx.clock()
        old = obj.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": obj["metadata"].get("generation"),
            "lastEvaluationTime": iso(now),
            "reason": message,
            "conditions": merge_conditions(
                old.get("conditions"),
                [
                    condition("Ready", False, reason, message),
                    condition("AbleToScale", False, reason, message),
                ],
                now,
            ),
        }
        if current is not None:
            status["currentReplicas"] = current
            status["desiredReplicas"] = current
            status["recommendedReplicas"] = current
        if spec is not None and spec.gpu is not None and current is not None:
            # It scales nothing, but its target still holds GPUs on the pool.
            claim = budget.Claim("", spec.priority, spec.gpu.gpus_per_replica, 0, current, current)
            status["gpu"] = gpu_entry(spec, claim, None)
        elif spec is None or spec.gpu is None:
            status["gpu"] = None
        try:
            await _write(ctx, obj, status)
            return before != reason
        except Conflict:
            continue
    raise Conflict(f"RagAutoscaler {meta['namespace']}/{meta['name']} kept changing; status not written")


async def _release_gpus(ctx: Context, namespace: str, name: str, held: int) -> None:
    """After a scale-down, tell the pool at once, so a waiting autoscaler can grow on its next run."""
    try:
        obj = await ctx.kube.get_autoscaler(namespace, name)
        await _write(ctx, obj, {"gpu": {"heldReplicas": held}})
    except KubeError:  # the next run publishes it anyway
        logging.getLogger(__name__).debug("could not publish released GPUs", exc_info=True)


async def _note_failed_scale(ctx: Context, namespace: str, name: str, message: str) -> None:
    try:
        obj = await ctx.kube.get_autoscaler(namespace, name)
        old = obj.get("status") or {}
        now = ctx.clock()
        conditions = [c for c in old.get("conditions") or [] if c.get("type") != "AbleToScale"]
        failed = condition("AbleToScale", False, "FailedUpdateScale", message)
        conditions.append({**failed, "lastTransitionTime": iso(now)})
        await _write(ctx, obj, {"conditions": conditions})
    except Exception:  # noqa: BLE001 (best effort: the next run reports again)
        logging.getLogger(__name__).debug("could not record a failed scale", exc_info=True)


async def _write(ctx: Context, obj: Mapping[str, Any], status: dict[str, Any]) -> None:
    meta = obj["metadata"]
    await ctx.kube.patch_status(meta["namespace"], meta["name"], meta["resourceVersion"], status)
