"""The scaling decision, example by example (no cluster, no network)."""

from __future__ import annotations

import pytest

from ragplane_autoscaler.decision import Reading, State, apply_grant, decide, signal_replicas
from ragplane_autoscaler.spec import Policy, ScalingRules, TargetType

pytestmark = pytest.mark.unit


def policy(
    lo: int = 1,
    hi: int = 10,
    up_window: int = 0,
    down_window: int = 0,
    up_step: int | None = None,
    down_step: int | None = None,
    up_cooldown: int = 0,
    down_cooldown: int = 0,
    tolerance: float = 0.0,
) -> Policy:
    return Policy(
        min_replicas=lo,
        max_replicas=hi,
        scale_up=ScalingRules(up_window, up_step, up_cooldown),
        scale_down=ScalingRules(down_window, down_step, down_cooldown),
        tolerance=tolerance,
    )


def lag(value: float | None, target: float = 100, partitions: int | None = None, **kw) -> Reading:
    return Reading(
        "lag",
        value,
        target,
        TargetType.AVERAGE_VALUE,
        partitions=partitions,
        allow_above_partitions=kw.pop("allow", False),
        **kw,
    )


def test_lag_asks_for_ceil_of_lag_over_target_per_replica():
    assert decide(policy(), [lag(250)], State(1), now=0).desired == 3
    assert decide(policy(), [lag(300)], State(1), now=0).desired == 3
    assert decide(policy(), [lag(301)], State(1), now=0).desired == 4


def test_quotients_that_round_badly_in_floating_point_do_not_add_a_replica():
    # 1.1 / 0.1 == 11.000000000000002
    r = Reading("q", 1.1, 0.1, TargetType.AVERAGE_VALUE)
    assert signal_replicas(r, current=5, tolerance=0.0) == 11


def test_value_target_scales_the_current_count_by_value_over_target():
    # queue time 300 ms against a 100 ms target with 2 replicas -> 6
    r = Reading("queue", 0.3, 0.1, TargetType.VALUE)
    assert decide(policy(), [r], State(2), now=0).desired == 6


def test_no_change_while_the_ratio_is_inside_the_tolerance():
    assert decide(policy(tolerance=0.1), [lag(420)], State(4), now=0).desired == 4
    assert decide(policy(tolerance=0.1), [lag(460)], State(4), now=0).desired == 5


def test_the_highest_signal_wins_and_the_reason_names_it():
    queue = Reading("queue", 50, 10, TargetType.AVERAGE_VALUE)
    d = decide(policy(), [lag(150), queue], State(1), now=0)
    assert d.desired == 5
    assert "'queue'" in d.reason and d.reason.startswith("scale up 1 -> 5")


def test_an_unreadable_signal_never_lets_the_count_go_down():
    d = decide(policy(), [lag(0), lag(None, error="broker down")], State(4), now=0)
    assert d.desired == 4
    assert "unreadable" in d.reason


def test_an_unreadable_signal_does_not_block_scaling_up_on_another():
    queue = Reading("queue", 80, 10)
    assert decide(policy(), [lag(None, error="x"), queue], State(4), now=0).desired == 8


def test_no_readable_signal_holds():
    d = decide(policy(), [lag(None, error="down")], State(3), now=0)
    assert d.desired == 3 and not d.signals_available


def test_clamped_to_min_and_max():
    assert decide(policy(lo=2, hi=5), [lag(0)], State(3), now=0).desired == 2
    d = decide(policy(lo=2, hi=5), [lag(10_000)], State(3), now=0)
    assert d.desired == 5 and "maxReplicas" in d.limits


def test_consumers_never_exceed_the_partition_count_unless_allowed():
    d = decide(policy(hi=20), [lag(1_000, partitions=6)], State(1), now=0)
    assert d.desired == 6 and "partitions" in d.limits
    assert decide(policy(hi=20), [lag(1_000, partitions=6, allow=True)], State(1), now=0).desired == 10


def test_scale_to_zero_below_the_activation_threshold_and_wake_above_it():
    p = policy(lo=0)
    assert decide(p, [lag(5, activation=10)], State(2), now=0).desired == 0
    assert decide(p, [lag(5, activation=10)], State(0), now=0).desired == 0
    assert decide(p, [lag(11, activation=10)], State(0), now=0).desired == 1
    assert decide(p, [lag(350, activation=10)], State(0), now=0).desired == 4


def test_a_value_signal_wakes_a_target_at_zero_with_one_replica():
    r = Reading("ttft", 2.0, 0.5, TargetType.VALUE, activation=0.1)
    assert decide(policy(lo=0), [r], State(0), now=0).desired == 1


def test_min_replicas_wins_over_the_partition_cap():
    assert decide(policy(lo=8, hi=10), [lag(10_000, partitions=4)], State(8), now=0).desired == 8


def test_scale_down_waits_for_the_window_then_goes_to_the_highest_recent_recommendation():
    p = policy(down_window=60)
    history = ((0.0, 6), (30.0, 4))
    d = decide(p, [lag(100)], State(6, history), now=50)
    assert d.desired == 6 and "stabilization" in d.limits
    d = decide(p, [lag(100)], State(6, history), now=61)  # the 6 fell out of the window, the 4 did not
    assert d.desired == 4
    d = decide(p, [lag(100)], State(4, history), now=91)
    assert d.desired == 1


def test_scale_up_window_takes_the_lowest_recent_recommendation():
    p = policy(up_window=30)
    d = decide(p, [lag(900)], State(2, ((0.0, 5),)), now=10)
    assert d.desired == 5
    d = decide(p, [lag(900)], State(2, ((0.0, 5),)), now=31)
    assert d.desired == 9


def test_history_keeps_one_entry_per_count_with_its_latest_time_inside_the_window():
    p = policy(down_window=60)
    state = State(3, ((0.0, 3), (10.0, 2), (20.0, 3), (100.0, 1)))
    d = decide(p, [lag(300)], state, now=110)
    assert d.recommendations == ((100.0, 1), (110.0, 3))


def test_max_step_limits_each_decision():
    d = decide(policy(hi=20, up_step=2), [lag(1_500)], State(3), now=0)
    assert d.desired == 5 and "maxStep" in d.limits
    assert decide(policy(hi=20, down_step=1), [lag(0)], State(5), now=0).desired == 4


def test_cooldown_blocks_a_change_shortly_after_the_last_one():
    p = policy(up_cooldown=60, down_cooldown=120)
    assert decide(p, [lag(900)], State(2, last_scale_time=100), now=130).desired == 2
    assert decide(p, [lag(900)], State(2, last_scale_time=100), now=161).desired == 9
    assert decide(p, [lag(0)], State(5, last_scale_time=100), now=161).desired == 5
    assert decide(p, [lag(0)], State(5, last_scale_time=100), now=221).desired == 1


def test_bounds_win_over_rate_limits_when_the_spec_changes():
    # someone lowered maxReplicas to 3 while 9 run; a down step of 1 must not keep it above the new max
    d = decide(policy(hi=3, down_step=1, down_window=600), [lag(900)], State(9, ((0.0, 9),)), now=10)
    assert d.desired == 3


def test_grant_caps_the_decision_and_keeps_the_recommendation():
    d = decide(policy(), [lag(800)], State(2), now=0)
    capped = apply_grant(d, 3, "h100")
    assert (capped.desired, capped.recommended) == (3, 8)
    assert "gpuBudget" in capped.limits and "'h100' grants only 3" in capped.reason
    assert apply_grant(d, None) is d
    assert apply_grant(d, 10) is d
