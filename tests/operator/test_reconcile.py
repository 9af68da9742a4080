"""The reconciler and its API code against an in-memory API (resourceVersions, 409s): no cluster needed."""

from __future__ import annotations

import logging

import pytest

from ragplane_autoscaler.decision import Reading
from ragplane_autoscaler.metrics import OperatorMetrics
from ragplane_autoscaler.reconcile import Context, reconcile
from ragplane_autoscaler.settings import Settings
from ragplane_autoscaler.spec import GROUP, PLURAL

pytestmark = pytest.mark.unit
NS = "rag"
log = logging.getLogger("test")


class FixedSignals:
    """Readings set by the test, by signal name."""

    def __init__(self) -> None:
        self.values: dict[str, float | None] = {}

    async def read_all(self, signals):
        return tuple(
            Reading(
                s.name, self.values.get(s.name), 10.0, error=None if self.values.get(s.name) is not None else "down"
            )
            for s in signals
        )

    def close(self) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def signals():
    return FixedSignals()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ctx(fake_kube, signals, clock):
    return make_ctx(fake_kube, signals, clock)


def make_ctx(kube, signals, clock, **settings) -> Context:
    settings = {"signal_hosts": ("x",), **settings}  # the host of the specs' metrics URLs below
    return Context(kube=kube, signals=signals, metrics=OperatorMetrics(), settings=Settings(**settings), clock=clock)


def deployment(api, name: str, replicas: int) -> None:
    api.put("apps", "deployments", NS, {"metadata": {"name": name}, "spec": {"replicas": replicas}})


def autoscaler(api, name: str, target: str, **spec) -> None:
    body = {
        "targetRef": {"kind": "Deployment", "name": target},
        "minReplicas": 1,
        "maxReplicas": 10,
        "signals": [{"name": "q", "metricsEndpoint": {"url": "http://x", "metric": "m", "targetValue": 10}}],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
    }
    body.update(spec)
    api.put(GROUP, PLURAL, NS, {"metadata": {"name": name}, "spec": body})


def replicas(api, name: str) -> int:
    return api.obj("apps", "deployments", NS, name)["spec"]["replicas"]


def status(api, name: str) -> dict:
    return api.obj(GROUP, PLURAL, NS, name).get("status", {})


def cond(api, name: str, type_: str) -> dict:
    return next(c for c in status(api, name)["conditions"] if c["type"] == type_)


async def test_scales_and_records_the_decision_in_status(ctx, fake_api, signals):
    deployment(fake_api, "embed", 1)
    autoscaler(fake_api, "embed", "embed")
    signals.values["q"] = 42
    outcome = await reconcile(ctx, NS, "embed", log)
    assert (outcome.kind, outcome.current, outcome.desired) == ("scaled", 1, 5)
    assert replicas(fake_api, "embed") == 5
    st = status(fake_api, "embed")
    assert (st["currentReplicas"], st["desiredReplicas"], st["recommendedReplicas"]) == (1, 5, 5)
    assert st["lastDecision"]["applied"] is True and st["lastScaleTime"]
    assert st["signals"] == [
        {"name": "q", "value": 42, "target": 10.0, "targetType": "AverageValue", "active": True, "replicas": 5}
    ]
    assert cond(fake_api, "embed", "Ready")["status"] == "True"
    assert cond(fake_api, "embed", "AbleToScale")["reason"] == "SucceededRescale"


async def test_a_409_on_the_status_write_is_answered_by_re_reading_and_deciding_again(ctx, fake_api, signals):
    deployment(fake_api, "embed", 1)
    autoscaler(fake_api, "embed", "embed")
    signals.values["q"] = 30
    writes = []

    def concurrent_writer(name, key):
        writes.append(name)
        if key[1] == PLURAL and len(writes) == 1:
            fake_api.touch(*key[:3], name)  # someone else writes between our read and our write

    fake_api.before_write = concurrent_writer
    outcome = await reconcile(ctx, NS, "embed", log)
    assert outcome.kind == "scaled" and replicas(fake_api, "embed") == 3
    assert status(fake_api, "embed")["desiredReplicas"] == 3
    assert fake_api.calls.count("get") >= 2  # re-read after the conflict
    assert ctx.metrics.conflicts.labels("status")._value.get() == 1


async def test_an_hpa_managed_target_is_refused_and_left_alone(ctx, fake_api, signals):
    deployment(fake_api, "web", 2)
    fake_api.put(
        "autoscaling",
        "horizontalpodautoscalers",
        NS,
        {
            "metadata": {"name": "web-hpa"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}},
        },
    )
    autoscaler(fake_api, "web", "web")
    signals.values["q"] = 90
    outcome = await reconcile(ctx, NS, "web", log)
    assert outcome.kind == "refused" and "web-hpa" in outcome.reason
    assert replicas(fake_api, "web") == 2 and "scale" not in fake_api.calls
    assert cond(fake_api, "web", "AbleToScale")["reason"] == "ManagedByHPA"
    assert cond(fake_api, "web", "Ready")["status"] == "False"


async def test_an_inference_service_needs_kserves_autoscaler_handed_over(ctx, fake_api, signals):
    fake_api.put(
        "serving.kserve.io",
        "inferenceservices",
        NS,
        {
            "metadata": {"name": "llm"},
            "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 1}},
        },
    )
    autoscaler(fake_api, "llm", "llm", targetRef={"kind": "InferenceService", "name": "llm"})
    signals.values["q"] = 30
    assert (await reconcile(ctx, NS, "llm", log)).kind == "refused"
    assert cond(fake_api, "llm", "AbleToScale")["reason"] == "ManagedByKServe"

    isvc = fake_api.obj("serving.kserve.io", "inferenceservices", NS, "llm")
    isvc["metadata"]["annotations"] = {"serving.kserve.io/autoscalerClass": "external"}
    assert (await reconcile(ctx, NS, "llm", log)).kind == "scaled"
    predictor = fake_api.obj("serving.kserve.io", "inferenceservices", NS, "llm")["spec"]["predictor"]
    assert predictor == {"minReplicas": 3, "maxReplicas": 3}


async def test_a_second_autoscaler_on_the_same_target_is_refused(ctx, fake_api, signals):
    deployment(fake_api, "embed", 1)
    autoscaler(fake_api, "first", "embed")
    autoscaler(fake_api, "second", "embed")
    signals.values["q"] = 30
    assert (await reconcile(ctx, NS, "second", log)).kind == "refused"
    assert cond(fake_api, "second", "AbleToScale")["reason"] == "ConflictingAutoscaler"
    assert (await reconcile(ctx, NS, "first", log)).kind == "scaled"


async def test_dry_run_records_but_never_scales(ctx, fake_api, signals):
    deployment(fake_api, "embed", 1)
    autoscaler(fake_api, "embed", "embed", dryRun=True)
    signals.values["q"] = 70
    outcome = await reconcile(ctx, NS, "embed", log)
    assert outcome.kind == "dry-run" and replicas(fake_api, "embed") == 1
    st = status(fake_api, "embed")
    assert st["desiredReplicas"] == 7 and st["lastDecision"]["applied"] is False and "lastScaleTime" not in st
    assert cond(fake_api, "embed", "AbleToScale")["reason"] == "DryRun"


async def test_missing_target_and_unreadable_signals_are_reported(ctx, fake_api, signals):
    autoscaler(fake_api, "ghost", "nowhere")
    assert (await reconcile(ctx, NS, "ghost", log)).kind == "target-missing"
    assert cond(fake_api, "ghost", "Ready")["reason"] == "TargetNotFound"

    deployment(fake_api, "embed", 4)
    autoscaler(fake_api, "embed", "embed")
    signals.values["q"] = None
    assert (await reconcile(ctx, NS, "embed", log)).kind == "held"
    assert replicas(fake_api, "embed") == 4
    assert cond(fake_api, "embed", "ScalingActive")["reason"] == "FailedGetMetrics"


async def test_a_restarted_operator_keeps_the_stabilization_window_from_status(fake_kube, fake_api, signals, clock):
    deployment(fake_api, "embed", 1)
    autoscaler(fake_api, "embed", "embed", behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    signals.values["q"] = 50
    assert (await reconcile(make_ctx(fake_kube, signals, clock), NS, "embed", log)).desired == 5

    fresh = make_ctx(fake_kube, signals, clock)  # nothing carried over in memory
    signals.values["q"] = 0
    clock.t += 30
    assert (await reconcile(fresh, NS, "embed", log)).kind == "held"
    assert replicas(fake_api, "embed") == 5
    clock.t += 31
    assert (await reconcile(fresh, NS, "embed", log)).desired == 1


async def test_two_autoscalers_share_a_pool_budget_and_priority_wins(fake_kube, fake_api, signals, clock):
    ctx = make_ctx(fake_kube, signals, clock, gpu_pools={"h100": 8})
    deployment(fake_api, "llm", 1)
    deployment(fake_api, "batch", 1)
    autoscaler(
        fake_api,
        "llm",
        "llm",
        priority=10,
        maxReplicas=4,
        gpu={"pool": "h100", "tensorParallel": 2},
        signals=[{"name": "llm", "metricsEndpoint": {"url": "http://x", "metric": "m", "targetValue": 10}}],
    )
    autoscaler(
        fake_api,
        "batch",
        "batch",
        priority=1,
        maxReplicas=4,
        gpu={"pool": "h100", "tensorParallel": 2},
        signals=[{"name": "batch", "metricsEndpoint": {"url": "http://x", "metric": "m", "targetValue": 10}}],
    )

    def used() -> int:
        return 2 * replicas(fake_api, "llm") + 2 * replicas(fake_api, "batch")

    signals.values.update(llm=0, batch=40)
    for _ in range(3):
        for name in ("llm", "batch"):
            await reconcile(ctx, NS, name, log)
            assert used() <= 8
    assert (replicas(fake_api, "llm"), replicas(fake_api, "batch")) == (1, 3)

    signals.values.update(llm=40)  # the high-priority LLM now wants 4 replicas = 8 GPUs
    for _ in range(4):
        for name in ("llm", "batch"):
            await reconcile(ctx, NS, name, log)
            assert used() <= 8
            clock.t += 1
    assert (replicas(fake_api, "llm"), replicas(fake_api, "batch")) == (3, 1)
    gpu = status(fake_api, "llm")["gpu"]
    assert gpu["grantedReplicas"] == 3 and gpu["poolBudgetGPUs"] == 8 and gpu["wantedReplicas"] == 4
    assert cond(fake_api, "llm", "ScalingLimited")["reason"] == "GPUBudget"


async def test_an_unknown_gpu_pool_holds_and_says_so(ctx, fake_api, signals):
    deployment(fake_api, "llm", 2)
    autoscaler(fake_api, "llm", "llm", gpu={"pool": "nowhere"})
    signals.values["q"] = 90
    assert (await reconcile(ctx, NS, "llm", log)).kind == "refused"
    assert replicas(fake_api, "llm") == 2
    assert cond(fake_api, "llm", "Ready")["reason"] == "UnknownGpuPool"


async def test_an_invalid_spec_is_reported_not_retried_forever(ctx, fake_api):
    fake_api.put(GROUP, PLURAL, NS, {"metadata": {"name": "bad"}, "spec": {"targetRef": {"kind": "Job", "name": "x"}}})
    assert (await reconcile(ctx, NS, "bad", log)).kind == "invalid"
    assert "spec.targetRef.kind" in cond(fake_api, "bad", "Ready")["message"]


async def test_metrics_follow_decisions_and_forget_deleted_autoscalers(ctx, fake_api, signals):
    from prometheus_client import generate_latest

    deployment(fake_api, "embed", 1)
    autoscaler(fake_api, "embed", "embed")
    signals.values["q"] = 42
    await reconcile(ctx, NS, "embed", log)
    page = generate_latest(ctx.metrics.registry).decode()
    assert 'ragplane_autoscaler_desired_replicas{autoscaler="embed",namespace="rag"} 5.0' in page
    assert 'ragplane_autoscaler_scale_events_total{autoscaler="embed",direction="up",namespace="rag"} 1.0' in page

    # once it is deleted, the next reconciliation in its namespace drops its series
    deployment(fake_api, "rerank", 1)
    autoscaler(fake_api, "rerank", "rerank")
    del fake_api.store[(GROUP, PLURAL, NS, "embed")]
    await reconcile(ctx, NS, "rerank", log)
    page = generate_latest(ctx.metrics.registry).decode()
    assert 'autoscaler="embed"' not in page and 'autoscaler="rerank"' in page


async def test_a_statefulset_is_scaled_through_its_scale_subresource(ctx, fake_api, signals):
    fake_api.put("apps", "statefulsets", NS, {"metadata": {"name": "writer"}, "spec": {"replicas": 2}})
    autoscaler(fake_api, "writer", "writer", targetRef={"kind": "StatefulSet", "name": "writer"})
    signals.values["q"] = 40
    assert (await reconcile(ctx, NS, "writer", log)).desired == 4
    assert fake_api.obj("apps", "statefulsets", NS, "writer")["spec"]["replicas"] == 4


async def test_a_409_on_the_scale_write_is_answered_by_re_reading_the_scale(ctx, fake_api, signals):
    deployment(fake_api, "embed", 1)
    autoscaler(fake_api, "embed", "embed")
    signals.values["q"] = 30
    seen = []

    def concurrent_writer(name, key):
        if key[1] == "deployments":
            seen.append(name)
            if len(seen) == 1:  # a rollout bumps the Deployment between our read and our write
                fake_api.touch(*key[:3], name)

    fake_api.before_write = concurrent_writer
    assert (await reconcile(ctx, NS, "embed", log)).kind == "scaled"
    assert replicas(fake_api, "embed") == 3 and len(seen) == 2
