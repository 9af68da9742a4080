"""Properties of the decision that must hold for every input (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ragplane_autoscaler.budget import Claim, allocate, grant
from ragplane_autoscaler.decision import Reading, State, apply_grant, decide
from ragplane_autoscaler.spec import Policy, ScalingRules, TargetType

pytestmark = pytest.mark.unit

PROFILE = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def policies(draw) -> Policy:
    lo = draw(st.integers(0, 20))
    hi = draw(st.integers(max(lo, 1), 40))
    steps = st.none() | st.integers(1, 10)
    return Policy(
        min_replicas=lo,
        max_replicas=hi,
        scale_up=ScalingRules(draw(st.integers(0, 600)), draw(steps), draw(st.integers(0, 300))),
        scale_down=ScalingRules(draw(st.integers(0, 600)), draw(steps), draw(st.integers(0, 300))),
        tolerance=draw(st.sampled_from([0.0, 0.05, 0.1, 0.3])),
    )


values = st.floats(0, 1e6, allow_nan=False) | st.none()


@st.composite
def reading_shapes(draw) -> list[dict]:
    """Signals without their values, so one test can vary only the values."""
    shapes = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["kafka", "avg", "value"]))
        shapes.append(
            {
                "name": f"s{i}",
                "target": draw(st.floats(0.01, 1e4, allow_nan=False)),
                "target_type": TargetType.VALUE if kind == "value" else TargetType.AVERAGE_VALUE,
                "activation": draw(st.floats(0, 100, allow_nan=False)),
                "partitions": draw(st.integers(1, 64)) if kind == "kafka" else None,
                "allow_above_partitions": draw(st.booleans()) if kind == "kafka" else True,
            }
        )
    return shapes


def readings(shapes: list[dict], vals: list[float | None]) -> list[Reading]:
    return [Reading(value=v, **s) for s, v in zip(shapes, vals)]


@st.composite
def states(draw, now: float = 10_000.0) -> State:
    history = draw(st.lists(st.tuples(st.floats(now - 1_000, now), st.integers(0, 40)), max_size=8))
    last = draw(st.none() | st.floats(now - 1_000, now))
    return State(draw(st.integers(0, 50)), tuple(sorted(history)), last)


@PROFILE
@given(policies(), reading_shapes(), st.data(), states())
def test_desired_is_never_outside_min_and_max(policy, shapes, data, state):
    vals = data.draw(st.lists(values, min_size=len(shapes), max_size=len(shapes)))
    d = decide(policy, readings(shapes, vals), state, now=10_000.0)
    assert policy.min_replicas <= d.desired <= policy.max_replicas


@PROFILE
@given(policies(), reading_shapes(), st.data(), states(), st.integers(0, 50))
def test_a_grant_caps_the_count_and_min_holds_whenever_the_grant_allows_it(policy, shapes, data, state, granted):
    vals = data.draw(st.lists(values, min_size=len(shapes), max_size=len(shapes)))
    d = apply_grant(decide(policy, readings(shapes, vals), state, now=10_000.0), granted)
    assert d.desired <= min(granted, policy.max_replicas)
    if granted >= policy.min_replicas:
        assert d.desired >= policy.min_replicas


@PROFILE
@given(policies(), reading_shapes(), st.data(), states())
def test_desired_is_monotone_in_every_signal(policy, shapes, data, state):
    low = data.draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=len(shapes), max_size=len(shapes)))
    bumps = data.draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=len(shapes), max_size=len(shapes)))
    high = [lo + b for lo, b in zip(low, bumps)]
    d_low = decide(policy, readings(shapes, low), state, now=10_000.0)
    d_high = decide(policy, readings(shapes, high), state, now=10_000.0)
    assert d_low.desired <= d_high.desired


@PROFILE
@given(policies(), reading_shapes(), st.data())
def test_no_flapping_inside_a_stabilization_window(policy, shapes, data):
    """Replaying a random signal trace: a scale-down never follows a scale-up within the scale-down window, and a
    scale-up never follows a scale-down within the scale-up window."""
    assume(policy.scale_up.stabilization_window_s or policy.scale_down.stabilization_window_s)
    steps = data.draw(
        st.lists(
            st.tuples(st.floats(1, 120), st.lists(values, min_size=len(shapes), max_size=len(shapes))),
            min_size=2,
            max_size=30,
        )
    )
    state = State(data.draw(st.integers(policy.min_replicas, policy.max_replicas)))
    now = 0.0
    changes: list[tuple[float, str]] = []
    for dt, vals in steps:
        now += dt
        d = decide(policy, readings(shapes, vals), state, now)
        if d.desired != state.current_replicas:
            changes.append((now, "up" if d.desired > state.current_replicas else "down"))
        state = State(
            d.desired, d.recommendations, now if d.desired != state.current_replicas else state.last_scale_time
        )
    for (t1, dir1), (t2, dir2) in zip(changes, changes[1:]):
        if (dir1, dir2) == ("up", "down"):
            assert t2 - t1 >= policy.scale_down.stabilization_window_s
        if (dir1, dir2) == ("down", "up"):
            assert t2 - t1 >= policy.scale_up.stabilization_window_s


@PROFILE
@given(policies(), reading_shapes(), st.data(), states())
def test_the_persisted_history_stays_small(policy, shapes, data, state):
    vals = data.draw(st.lists(values, min_size=len(shapes), max_size=len(shapes)))
    d = decide(policy, readings(shapes, vals), state, now=10_000.0)
    counts = [n for _, n in d.recommendations]
    assert len(counts) == len(set(counts))
    assert all(t >= 10_000.0 - policy.history_window_s for t, _ in d.recommendations)


claims = st.builds(
    Claim,
    key=st.text("abcdefgh", min_size=1, max_size=4),
    priority=st.integers(0, 3),
    gpus_per_replica=st.sampled_from([1, 2, 4, 8]),
    min_replicas=st.integers(0, 3),
    wanted_replicas=st.integers(0, 10),
    held_replicas=st.integers(0, 10),
)
unique_claims = st.lists(claims, max_size=6, unique_by=lambda c: c.key)


@PROFILE
@given(st.integers(0, 64), unique_claims)
def test_allocation_never_exceeds_the_budget_nor_what_is_wanted(budget_gpus, cs):
    got = allocate(budget_gpus, cs)
    assert sum(got[c.key] * c.gpus_per_replica for c in cs) <= budget_gpus
    assert all(0 <= got[c.key] <= c.wanted_replicas for c in cs)


@PROFILE
@given(st.integers(0, 64), unique_claims)
def test_a_claim_left_short_could_not_have_fit_one_more_group(budget_gpus, cs):
    got = allocate(budget_gpus, cs)
    free = budget_gpus - sum(got[c.key] * c.gpus_per_replica for c in cs)
    for c in cs:
        if got[c.key] < c.wanted_replicas:
            assert free < c.gpus_per_replica


@PROFILE
@given(st.integers(0, 64), unique_claims)
def test_higher_priority_wins_over_lower_priority_of_the_same_shape(budget_gpus, cs):
    got = allocate(budget_gpus, cs)
    for a in cs:
        if got[a.key] >= a.wanted_replicas:
            continue
        for b in cs:
            if b.priority < a.priority and b.gpus_per_replica == a.gpus_per_replica:
                assert got[b.key] <= min(b.min_replicas, b.wanted_replicas)


@PROFILE
@given(st.integers(0, 32), claims, unique_claims)
def test_applying_a_grant_never_takes_the_pool_over_its_budget(headroom, me, others):
    others = [o for o in others if o.key != me.key]
    held_before = me.held_replicas * me.gpus_per_replica + sum(o.held_replicas * o.gpus_per_replica for o in others)
    budget_gpus = held_before + headroom  # a pool within its budget stays within it
    g = grant(me, others, budget_gpus)
    after = g.replicas * me.gpus_per_replica + sum(o.held_replicas * o.gpus_per_replica for o in others)
    assert after <= budget_gpus
    assert g.pool_used == after
    assert g.replicas <= max(g.allocated, 0)


@PROFILE
@given(st.integers(0, 64), claims, unique_claims)
def test_an_over_budget_pool_only_shrinks(budget_gpus, me, others):
    others = [o for o in others if o.key != me.key]
    g = grant(me, others, budget_gpus)
    if g.replicas > me.held_replicas:  # growth only into GPUs nobody holds
        held_by_others = sum(o.held_replicas * o.gpus_per_replica for o in others)
        assert held_by_others + g.replicas * me.gpus_per_replica <= budget_gpus
