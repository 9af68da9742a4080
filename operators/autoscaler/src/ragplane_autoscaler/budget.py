"""GPU accounting for a node pool shared by several autoscalers. Pure functions.

A replica of a GPU target is one whole model instance: tensorParallel x pipelineParallel GPUs, granted together or
not at all. The pool's budget is split in two passes, both in priority order (higher first, ties by name):

1. minimums: each claim gets up to its minReplicas (a minimum is a promise, so it comes before anyone's surplus);
2. the rest: up to what each claim wants; claims of equal priority take one replica at a time in turn, so neither
   starves the other; a higher priority is served completely before a lower one gets anything more.

That allocation is where the pool should end up. What one autoscaler may apply *now* is :func:`grant`: shrinking to
its allocation is always safe, but growing may only use GPUs that nobody holds at this moment; a lower-priority
autoscaler that must give GPUs back does so on its own next run, and the winner grows on the run after that. The
sum over the pool therefore never exceeds the budget, even in the middle of a hand-over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby


@dataclass(frozen=True)
class Claim:
    """One autoscaler's position on a pool.

    Attributes:
        key: "namespace/name" of the RagAutoscaler.
        priority: higher wins contention.
        gpus_per_replica: tp x pp.
        min_replicas: reserved first.
        wanted_replicas: what its decision recommends before the budget.
        held_replicas: what its target holds or is about to hold (max of current and last desired).
    """

    key: str
    priority: int
    gpus_per_replica: int
    min_replicas: int
    wanted_replicas: int
    held_replicas: int


@dataclass(frozen=True)
class Grant:
    """What one autoscaler may apply now.

    Attributes:
        replicas: the cap for this run.
        allocated: where the allocation says this autoscaler should end up.
        pool_budget: the pool's GPUs.
        pool_used: GPUs the pool holds after this autoscaler applies `replicas` (others at what they hold).
        waiting: GPUs this autoscaler is allocated but cannot take yet because others still hold them.
    """

    replicas: int
    allocated: int
    pool_budget: int
    pool_used: int
    waiting: int = 0


def allocate(budget_gpus: int, claims: Iterable[Claim]) -> dict[str, int]:
    """Split a pool's GPUs into whole replicas per claim.

    Args:
        budget_gpus: the pool's GPUs for all autoscalers on it.
        claims: every autoscaler on the pool.

    Returns:
        key -> replicas; never more than wanted, and the GPUs sum to at most the budget.
    """
    ordered = sorted(claims, key=lambda c: (-c.priority, c.key))
    grants = {c.key: 0 for c in ordered}
    free = max(0, budget_gpus)
    for c in ordered:  # pass 1: minimums
        n = min(c.min_replicas, c.wanted_replicas, free // c.gpus_per_replica)
        grants[c.key] = n
        free -= n * c.gpus_per_replica
    for _, tier_iter in groupby(ordered, key=lambda c: c.priority):  # pass 2: by priority, round-robin in a tier
        tier = list(tier_iter)
        progressed = True
        while progressed:
            progressed = False
            for c in tier:
                if grants[c.key] < c.wanted_replicas and free >= c.gpus_per_replica:
                    grants[c.key] += 1
                    free -= c.gpus_per_replica
                    progressed = True
    return grants


def grant(me: Claim, others: Iterable[Claim], budget_gpus: int) -> Grant:
    """The replicas `me` may apply now without the pool ever going over its budget.

    Args:
        me: this autoscaler's claim (held_replicas = its target's current count).
        others: the other autoscalers on the pool, as their status last reported.
        budget_gpus: the pool's GPUs.

    Returns:
        The grant; `replicas` is at most the allocation, and growth only uses GPUs nobody holds.
    """
    others = [o for o in others if o.key != me.key]
    allocated = allocate(budget_gpus, [me, *others])[me.key]
    held_by_others = sum(o.held_replicas * o.gpus_per_replica for o in others)
    if allocated <= me.held_replicas:
        replicas = allocated
    else:
        free_now = max(0, budget_gpus - held_by_others) // me.gpus_per_replica
        # Grow only into GPUs nobody holds; if others hold too many right now, keep what we have and wait.
        replicas = min(allocated, max(me.held_replicas, free_now))
    return Grant(
        replicas=replicas,
        allocated=allocated,
        pool_budget=budget_gpus,
        pool_used=held_by_others + replicas * me.gpus_per_replica,
        waiting=max(0, allocated - replicas) * me.gpus_per_replica,
    )
