"""Retries: one backoff policy for every retry loop, and the retry policy every gRPC channel carries.

``Backoff`` is exponential backoff with full jitter (retry n waits a uniform draw from 0 to
``min(cap_s, base_s * 2**n)``), bounded by a number of attempts, a deadline, or both. ``retry_call`` and
``retry_async`` run a callable under it and retry only what the caller's predicate calls retriable.

Calls between ragplane services are retried by gRPC itself (``service_config``): UNAVAILABLE on idempotent
methods, with gRPC's own jittered backoff and retry throttling, so that a restarting peer or a pod that is
still warming up costs the caller latency instead of an error, and a peer that is down is not hammered.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ragplane.runtime.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")
Retriable = Callable[[BaseException], bool]

# Methods that can run twice without a second effect. Anything not listed (IngestDocuments, RunDataset, Ask,
# AskStream, Feedback: they create documents, runs, session turns or feedback records) is never retried by gRPC.
IDEMPOTENT_METHODS: dict[str, tuple[str, ...]] = {
    "ragplane.v1.EmbedService": ("Embed",),
    "ragplane.v1.RerankService": ("Rerank",),
    "ragplane.v1.RetrieveService": ("Search", "ListChunks", "GetIndexStats"),
    "ragplane.v1.GenerateService": ("Generate", "GenerateStream"),
    "ragplane.v1.GuardrailService": ("CheckInput", "CheckOutput", "ScanDocument"),
    "ragplane.v1.IngestService": ("UpsertDocument", "DeleteDocument", "GetDocumentStatus", "ListDocuments"),
    "ragplane.v1.EvalService": ("EvaluateAnswer", "GetReport"),
    "ragplane.v1.RagService": ("Search",),
}


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter.

    Attributes:
        base_s: the ceiling of the first wait.
        cap_s: the largest ceiling of any wait.
        attempts: tries in all, the first included; None for as many as the deadline allows.
    """

    base_s: float = 0.2
    cap_s: float = 5.0
    attempts: int | None = 4

    def __post_init__(self) -> None:
        if self.base_s <= 0:
            raise ValueError(f"base_s must be > 0, but got {self.base_s}")
        if self.cap_s < self.base_s:
            raise ValueError(f"cap_s must be >= base_s ({self.base_s}), but got {self.cap_s}")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, but got {self.attempts}")

    def delay(self, retry: int) -> float:
        """A jittered wait before retry number ``retry`` (0 for the first retry)."""
        # Full jitter spreads the callers of one failed dependency over the whole window, so they do not return
        # in step (the "thundering herd" that equal or half jitter still leaves).
        return random.uniform(0.0, min(self.cap_s, self.base_s * 2**retry))

    def next_delay(self, retry: int, deadline: float | None = None) -> float | None:
        """The wait before retry number ``retry``, or None when the attempts are spent or the wait would end
        after ``deadline`` (a ``time.monotonic()`` instant)."""
        if self.attempts is not None and retry + 1 >= self.attempts:
            return None
        delay = self.delay(retry)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return None
        return delay


def _give_up_or_wait(
    exc: BaseException, retry: int, policy: Backoff, retriable: Retriable, deadline: float | None, what: str
) -> float:
    """The wait before the next try; re-raises ``exc`` when it is not retriable or the policy is spent."""
    delay = policy.next_delay(retry, deadline) if retriable(exc) else None
    if delay is None:
        raise exc
    log.warning("retrying", what=what, attempt=retry + 2, delay_s=round(delay, 3), error=str(exc)[:300])
    return delay


def retry_call(
    fn: Callable[[], T],
    policy: Backoff,
    *,
    retriable: Retriable,
    deadline: float | None = None,
    what: str = "call",
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``fn`` until it returns, retrying the failures ``retriable`` accepts under ``policy``.

    Args:
        fn: the call.
        policy: attempts and waits.
        retriable: whether a failure is worth another try.
        deadline: a ``time.monotonic()`` instant after which no retry starts.
        what: names the call in the retry log.
        sleep: waits between tries; a stop event's ``wait`` makes the waits interruptible.

    Returns:
        What ``fn`` returned.

    Raises:
        Exception: ``fn``'s last failure.
    """
    retry = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the predicate decides, everything else is re-raised
            sleep(_give_up_or_wait(exc, retry, policy, retriable, deadline, what))
        retry += 1


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    policy: Backoff,
    *,
    retriable: Retriable,
    deadline: float | None = None,
    what: str = "call",
) -> T:
    """``retry_call`` for a coroutine function: awaits ``fn()`` and waits with ``asyncio.sleep``."""
    retry = 0
    while True:
        try:
            return await fn()
        except Exception as exc:  # noqa: BLE001 - the predicate decides, everything else is re-raised
            await asyncio.sleep(_give_up_or_wait(exc, retry, policy, retriable, deadline, what))
        retry += 1


def service_config(max_attempts: int = 4, initial_backoff_s: float = 0.1, max_backoff_s: float = 2.0) -> str:
    """The gRPC service config (JSON) of channels to ragplane services.

    UNAVAILABLE (peer restarting, warming up, connection refused) is retried on idempotent methods only;
    retry throttling stops retrying towards a server once more than half of the recent calls failed.
    """
    policy = {
        "maxAttempts": max_attempts,
        "initialBackoff": f"{initial_backoff_s}s",
        "maxBackoff": f"{max_backoff_s}s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    names = [
        {"service": service, "method": method} for service, methods in IDEMPOTENT_METHODS.items() for method in methods
    ]
    config = {
        "methodConfig": [{"name": names, "retryPolicy": policy}],
        "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
    }
    return json.dumps(config)
