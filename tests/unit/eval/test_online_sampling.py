"""Online sampling: deterministic per request id, close to the configured rate, errors at their own rate."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from ragplane.v1 import common_pb2, events_pb2
from ragplane_eval.judge import JudgeScores
from ragplane_eval.online import RollingScores, sample_fraction, sampling_reason

pytestmark = pytest.mark.unit

IDS = [uuid.UUID(int=i * 2654435761 + 12345).hex for i in range(2000)]


def _event(request_id: str, **fields) -> events_pb2.AnswerEvent:
    return events_pb2.AnswerEvent(request_id=request_id, tenant="t", **fields)


def test_the_decision_depends_only_on_the_request_id():
    first = [sampling_reason(_event(i), 0.1, 0.1) for i in IDS]
    again = [sampling_reason(_event(i, answer="different text"), 0.1, 0.1) for i in IDS]
    assert first == again
    assert all(0.0 <= sample_fraction(i) < 1.0 for i in IDS)


@pytest.mark.parametrize("rate", [0.05, 0.1, 0.5])
def test_the_sampled_share_of_2000_ids_is_within_tolerance_of_the_rate(rate):
    sampled = sum(sampling_reason(_event(i), rate, 1.0) == "sample" for i in IDS)
    # Binomial standard deviation at n=2000 is at most ~22 (rate 0.5); allow about 3.5 sigma.
    sigma = (len(IDS) * rate * (1 - rate)) ** 0.5
    assert abs(sampled - rate * len(IDS)) <= 3.5 * sigma


def test_a_higher_rate_samples_a_superset():
    low = {i for i in IDS if sampling_reason(_event(i), 0.05, 1.0)}
    high = {i for i in IDS if sampling_reason(_event(i), 0.2, 1.0)}
    assert low < high


def test_rate_zero_samples_nothing_and_rate_one_everything():
    assert not any(sampling_reason(_event(i), 0.0, 1.0) for i in IDS)
    assert all(sampling_reason(_event(i), 1.0, 0.0) == "sample" for i in IDS)


def test_failed_and_blocked_answers_are_sampled_at_the_error_rate_whatever_the_answer_rate():
    block = common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_BLOCK)
    allow = common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW)
    for request_id in IDS[:50]:
        assert sampling_reason(_event(request_id, error_code="UNAVAILABLE"), 0.0, 1.0) == "error"
        assert sampling_reason(_event(request_id, input_verdict=block), 0.0, 1.0) == "error"
        assert sampling_reason(_event(request_id, output_verdict=block), 1.0, 0.0) is None
        assert sampling_reason(_event(request_id, input_verdict=allow), 0.0, 1.0) is None
    failed = [sampling_reason(_event(i, error_code="UNAVAILABLE"), 1.0, 0.2) for i in IDS]
    sigma = (len(IDS) * 0.2 * 0.8) ** 0.5
    assert abs(failed.count("error") - 0.2 * len(IDS)) <= 3.5 * sigma
    assert failed.count("sample") == 0


def test_rolling_means_keep_the_last_window_and_skip_missing_scores():
    rolling = RollingScores(window=3)
    tenant = f"unit-{uuid.uuid4().hex[:6]}"
    for value in (0.0, 1.0, 1.0, 1.0):
        rolling.add(tenant, JudgeScores(value, None, 0.5))
    assert rolling.mean(tenant, "faithfulness") == 1.0  # the first 0.0 fell out of the window
    assert rolling.mean(tenant, "answer_relevance") is None
    assert REGISTRY.get_sample_value("ragplane_eval_faithfulness", {"tenant": tenant}) == 1.0
    assert REGISTRY.get_sample_value("ragplane_eval_context_relevance", {"tenant": tenant}) == 0.5
