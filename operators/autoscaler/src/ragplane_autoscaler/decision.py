"""The scaling decision: a pure function of signal readings, the policy and the state kept in `.status`.

Steps, in order (each is monotone in the signal values, so the whole decision is):

1. each signal recommends a replica count (HPA rules: AverageValue -> ceil(value / target); Value -> ceil(current *
   value / target); no change while the ratio is within the tolerance);
2. the highest recommendation wins; a signal that could not be read holds the current count (never scale down
   blind); no readable signal at all holds;
3. scale to zero (minReplicas 0): 0 when no signal is above its activation threshold, at least 1 when one is;
4. Kafka consumers: never more replicas than partitions, unless a signal allows it;
5. clamp to [minReplicas, maxReplicas];
6. stabilization (HPA semantics): scale up only to the lowest recommendation of the scale-up window, down only to
   the highest of the scale-down window; the window history lives in `.status.recommendations`;
7. cooldown since the last change, then max step per decision;
8. clamp to [minReplicas, maxReplicas] again (a spec change wins over the rate limits);
9. the GPU budget: at most the replicas the node pool grants (whole tensor-parallel groups, see budget.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .spec import Policy, TargetType

# ceil() on a quotient like 1.1 / 0.1 = 11.000000000000002 must give 11, not 12.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Reading:
    """One signal's value at decision time.

    Attributes:
        name: the signal's name in the spec.
        value: the measured value; None when it could not be read.
        target: the target value (per replica for AverageValue).
        target_type: how value relates to replicas.
        activation: the value above which the signal wakes a target scaled to zero.
        partitions: for Kafka lag, the topic's partition count.
        allow_above_partitions: for Kafka lag, whether replicas may exceed the partition count.
        error: why the value is missing.
    """

    name: str
    value: float | None
    target: float
    target_type: TargetType = TargetType.AVERAGE_VALUE
    activation: float = 0.0
    partitions: int | None = None
    allow_above_partitions: bool = True
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.value is not None and self.value > self.activation


@dataclass(frozen=True)
class State:
    """What the decision remembers between runs (persisted in `.status`).

    Attributes:
        current_replicas: the target's replica count now.
        recommendations: (time, replicas) pairs: for each recommended count, the last time it was recommended.
        last_scale_time: when the operator last changed the replica count.
    """

    current_replicas: int
    recommendations: tuple[tuple[float, int], ...] = ()
    last_scale_time: float | None = None


@dataclass(frozen=True)
class SignalRecommendation:
    """What one signal asked for."""

    name: str
    value: float | None
    replicas: int | None
    active: bool
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome.

    Attributes:
        desired: the replica count to apply.
        recommended: the count before the GPU budget (what the autoscaler claims from its pool).
        reason: one human-readable sentence.
        limits: why the count is not simply what the signals asked for (e.g. "maxReplicas", "stabilization").
        signals: per-signal recommendations.
        recommendations: the history to persist.
        signals_available: whether at least one signal was read.
    """

    desired: int
    recommended: int
    reason: str
    limits: tuple[str, ...] = ()
    signals: tuple[SignalRecommendation, ...] = ()
    recommendations: tuple[tuple[float, int], ...] = field(default=(), repr=False)
    signals_available: bool = True


def signal_replicas(reading: Reading, current: int, tolerance: float) -> int | None:
    """Replicas one signal asks for (HPA rules), or None when it has no value."""
    if reading.value is None:
        return None
    value = max(0.0, reading.value)
    if reading.target_type is TargetType.AVERAGE_VALUE:
        raw = value / reading.target
        if current > 0 and abs(raw / current - 1.0) <= tolerance:
            return current
        return max(0, math.ceil(raw - _EPSILON))
    ratio = value / reading.target
    if abs(ratio - 1.0) <= tolerance:
        return current
    return max(0, math.ceil(current * ratio - _EPSILON))


def decide(policy: Policy, readings: tuple[Reading, ...] | list[Reading], state: State, now: float) -> Decision:
    """Decide the replica count before the GPU budget (steps 1-8 of the module docstring).

    Args:
        policy: min/max, windows, steps, cooldowns, tolerance.
        readings: one per signal in the spec.
        state: current replicas and the persisted history.
        now: seconds since the epoch.

    Returns:
        The decision; apply the pool's grant with :func:`apply_grant`.
    """
    current = state.current_replicas
    per_signal = []
    for r in readings:
        n = signal_replicas(r, current, policy.tolerance)
        per_signal.append(SignalRecommendation(r.name, r.value, n, r.active, r.error))
    wanted = [s.replicas for s in per_signal if s.replicas is not None]
    failed = [s.name for s in per_signal if s.replicas is None]
    limits: list[str] = []

    # 2. combine
    if not wanted:
        raw = current
        why = "no signal could be read; holding"
    else:
        top = max(per_signal, key=lambda s: -1 if s.replicas is None else s.replicas)
        raw = max(wanted)
        why = f"signal {top.name!r} wants {raw} (value {_fmt(top.value)})"
        if failed:
            if raw < current:
                why = f"signals {failed} unreadable, not scaling down blind"
            raw = max(raw, current)

    # 3. scale to zero, with an activation threshold
    if policy.min_replicas == 0 and wanted:
        if any(r.active for r in readings):
            if raw < 1:
                raw, why = 1, "a signal is above its activation threshold"
        elif not failed:
            raw, why = 0, "no signal above its activation threshold: scale to zero"

    # 4. Kafka partitions
    kafka = [r for r in readings if r.partitions is not None]
    if kafka and not any(r.allow_above_partitions for r in kafka):
        cap = max(r.partitions for r in kafka if r.partitions is not None)
        if raw > cap:
            raw = cap
            limits.append("partitions")

    # 5. clamp
    raw = _clamp(raw, policy, limits)

    # 6. stabilization over the persisted history
    history = _remember(state.recommendations, now, raw, policy.history_window_s)
    up_floor = min((n for t, n in history if t >= now - policy.scale_up.stabilization_window_s), default=raw)
    down_ceiling = max((n for t, n in history if t >= now - policy.scale_down.stabilization_window_s), default=raw)
    desired = current
    if desired < up_floor:
        desired = up_floor
    if desired > down_ceiling:
        desired = down_ceiling
    if desired != raw:
        limits.append("stabilization")

    # 7. cooldown, then max step
    since = None if state.last_scale_time is None else now - state.last_scale_time
    if desired > current and since is not None and since < policy.scale_up.cooldown_s:
        desired = current
        limits.append("cooldown")
    elif desired < current and since is not None and since < policy.scale_down.cooldown_s:
        desired = current
        limits.append("cooldown")
    if desired > current and policy.scale_up.max_step is not None and desired - current > policy.scale_up.max_step:
        desired = current + policy.scale_up.max_step
        limits.append("maxStep")
    if desired < current and policy.scale_down.max_step is not None and current - desired > policy.scale_down.max_step:
        desired = current - policy.scale_down.max_step
        limits.append("maxStep")

    # 8. the spec's bounds win over the rate limits
    desired = _clamp(desired, policy, limits)

    return Decision(
        desired=desired,
        recommended=desired,
        reason=_sentence(current, desired, why, limits, policy),
        limits=tuple(dict.fromkeys(limits)),
        signals=tuple(per_signal),
        recommendations=history,
        signals_available=bool(wanted),
    )


def apply_grant(decision: Decision, grant: int | None, pool: str | None = None) -> Decision:
    """Cap a decision at the replicas the GPU pool grants (step 9).

    Args:
        decision: from :func:`decide`.
        grant: replicas granted by the pool, or None when the target uses no GPU budget.
        pool: the pool's name, for the reason.

    Returns:
        The decision with `desired` at most `grant`; `recommended` keeps the uncapped count.
    """
    if grant is None or decision.desired <= grant:
        return decision
    return replace(
        decision,
        desired=max(0, grant),
        limits=tuple(dict.fromkeys((*decision.limits, "gpuBudget"))),
        reason=f"{decision.reason}; GPU pool {pool!r} grants only {grant} replica(s)",
    )


def _remember(
    history: tuple[tuple[float, int], ...], now: float, replicas: int, window_s: float
) -> tuple[tuple[float, int], ...]:
    """Add a recommendation and keep, per replica count, only its latest time inside the window.

    Stabilization asks "which counts were recommended within the last W seconds"; for that only each count's latest
    time matters, so the history stays at most maxReplicas + 1 entries long whatever the timer interval.
    """
    latest: dict[int, float] = {}
    for t, n in history:
        t = min(t, now)  # a clock that went backwards must not push entries out of reach
        if t >= now - window_s and t > latest.get(n, -math.inf):
            latest[n] = t
    latest[replicas] = now
    return tuple(sorted(((t, n) for n, t in latest.items()), key=lambda p: (p[0], p[1])))


def _clamp(n: int, policy: Policy, limits: list[str]) -> int:
    if n > policy.max_replicas:
        limits.append("maxReplicas")
        return policy.max_replicas
    if n < policy.min_replicas:
        limits.append("minReplicas")
        return policy.min_replicas
    return n


def _sentence(current: int, desired: int, why: str, limits: list[str], policy: Policy) -> str:
    if desired > current:
        head = f"scale up {current} -> {desired}"
    elif desired < current:
        head = f"scale down {current} -> {desired}"
    else:
        head = f"hold at {current}"
    notes = []
    for limit in dict.fromkeys(limits):
        if limit == "stabilization":
            notes.append(
                f"stabilization windows (up {policy.scale_up.stabilization_window_s}s,"
                f" down {policy.scale_down.stabilization_window_s}s)"
            )
        elif limit == "cooldown":
            notes.append("cooldown since the last change")
        elif limit == "maxStep":
            notes.append("max step per decision")
        elif limit == "partitions":
            notes.append("topic partition count")
        elif limit == "maxReplicas":
            notes.append(f"maxReplicas {policy.max_replicas}")
        elif limit == "minReplicas":
            notes.append(f"minReplicas {policy.min_replicas}")
    tail = f"; limited by {', '.join(notes)}" if notes else ""
    return f"{head}: {why}{tail}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:g}"
