"""The backoff policy and the retry helpers: what is retried, how often, and for how long."""

from __future__ import annotations

import json
import time

import pytest

from ragplane.runtime import errors
from ragplane.runtime.retry import Backoff, retry_async, retry_call, service_config

pytestmark = pytest.mark.unit

FAST = Backoff(base_s=0.001, cap_s=0.002, attempts=3)


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then returns "ok"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, errors.Unavailable)


def test_waits_are_full_jitter_under_an_exponential_ceiling_with_a_cap():
    policy = Backoff(base_s=0.1, cap_s=0.5, attempts=None)
    for retry, ceiling in ((0, 0.1), (1, 0.2), (2, 0.4), (3, 0.5), (10, 0.5)):
        waits = [policy.delay(retry) for _ in range(200)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2 and min(waits) < ceiling / 2


def test_no_wait_once_the_attempts_are_spent():
    policy = Backoff(attempts=3)
    assert policy.next_delay(0) is not None and policy.next_delay(1) is not None
    assert policy.next_delay(2) is None


def test_no_wait_that_would_end_after_the_deadline():
    policy = Backoff(base_s=1.0, cap_s=1.0, attempts=None)
    assert all(policy.next_delay(0, deadline=time.monotonic()) is None for _ in range(20))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_s": 0}, "base_s must be > 0, but got 0"),
        ({"base_s": 1.0, "cap_s": 0.5}, "cap_s must be >= base_s"),
        ({"attempts": 0}, "attempts must be >= 1, but got 0"),
    ],
)
def test_policy_values_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Backoff(**kwargs)


def test_retriable_failures_are_retried_until_success():
    call = Flaky(2, errors.Unavailable("down"))
    assert retry_call(call, FAST, retriable=is_unavailable) == "ok"
    assert call.calls == 3


def test_the_last_failure_is_raised_when_attempts_run_out():
    call = Flaky(5, errors.Unavailable("down"))
    with pytest.raises(errors.Unavailable, match="down"):
        retry_call(call, FAST, retriable=is_unavailable)
    assert call.calls == 3


def test_non_retriable_failures_are_raised_at_once():
    call = Flaky(1, errors.FailedPrecondition("bad"))
    with pytest.raises(errors.FailedPrecondition):
        retry_call(call, FAST, retriable=is_unavailable)
    assert call.calls == 1


def test_waits_go_through_the_given_sleep():
    waits: list[float] = []
    retry_call(Flaky(2, errors.Unavailable("down")), FAST, retriable=is_unavailable, sleep=waits.append)
    assert len(waits) == 2 and all(0.0 <= w <= 0.002 for w in waits)


async def test_async_retries_follow_the_same_policy():
    call = Flaky(2, errors.Unavailable("down"))

    async def attempt() -> str:
        return call()

    assert await retry_async(attempt, FAST, retriable=is_unavailable) == "ok"
    assert call.calls == 3
    failing = Flaky(9, errors.Unavailable("down"))

    async def always() -> str:
        return failing()

    with pytest.raises(errors.Unavailable):
        await retry_async(always, FAST, retriable=is_unavailable)
    assert failing.calls == 3


def test_the_grpc_policy_retries_only_unavailable_with_throttling():
    config = json.loads(service_config())
    (method_config,) = config["methodConfig"]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert {"service": "ragplane.v1.RetrieveService", "method": "Search"} in method_config["name"]
    assert not any(name.get("method") in ("IngestDocuments", "Feedback", "Ask") for name in method_config["name"])
    assert config["retryThrottling"] == {"maxTokens": 10, "tokenRatio": 0.1}
