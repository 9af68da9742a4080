"""User feedback on answers -> ``ragplane.feedback.v1``."""

from __future__ import annotations

import redis.asyncio as aioredis

from ragplane.runtime.context import current_tenant, hash_identity, principal_var
from ragplane.runtime.errors import InvalidArgument, NotFound
from ragplane.v1 import common_pb2, events_pb2, rag_pb2
from ragplane_orchestrator.events import EventPublisher, now_timestamp
from ragplane_orchestrator.ratelimit import RateLimiter

ANSWER_TTL_S = 7 * 24 * 3600
MAX_COMMENT_CHARS = 4000
# An answer is at most 4096 tokens (options.sampling.max_tokens); its correction may be somewhat longer.
MAX_CORRECTED_ANSWER_CHARS = 20000


def answer_key(tenant: str, request_id: str) -> str:
    return f"rp:answer:{tenant}:{request_id}"


class FeedbackRecorder:
    """Checks feedback against the tenant's recent answers and publishes it.

    Args:
        limiter: counts each tenant's Feedback calls, at most ``per_minute`` (0 = no limit).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        publisher: EventPublisher,
        topic: str,
        salt: str,
        limiter: RateLimiter,
        per_minute: int,
    ) -> None:
        self._redis = redis
        self._publisher = publisher
        self._topic = topic
        self._salt = salt
        self._limiter = limiter
        self._per_minute = per_minute

    async def remember_answer(self, tenant: str, request_id: str) -> None:
        await self._redis.set(answer_key(tenant, request_id), "1", ex=ANSWER_TTL_S)

    async def record(self, request: rag_pb2.FeedbackRequest) -> None:
        """Validate and publish one piece of feedback.

        Raises:
            InvalidArgument: missing request_id or rating, or a comment or corrected answer too long.
            ResourceExhausted: the tenant sent more than its Feedback calls per minute.
            NotFound: the request id is not an answer this tenant received (or it is older than 7 days).
        """
        if not request.request_id:
            raise InvalidArgument("request_id", "must not be empty")
        if request.rating == common_pb2.FEEDBACK_RATING_UNSPECIFIED and not request.corrected_answer:
            raise InvalidArgument("rating", "must be THUMBS_UP or THUMBS_DOWN (or send corrected_answer)")
        _check_length("comment", request.comment, MAX_COMMENT_CHARS)
        _check_length("corrected_answer", request.corrected_answer, MAX_CORRECTED_ANSWER_CHARS)
        tenant = current_tenant()
        await self._limiter.admit_calls("feedback", tenant, self._per_minute)
        if not await self._redis.exists(answer_key(tenant, request.request_id)):
            raise NotFound(f"no answer with request_id {request.request_id!r} for this tenant")
        event = events_pb2.FeedbackEvent(
            request_id=request.request_id,
            tenant=tenant,
            user_hash=hash_identity(principal_var.get() or "", self._salt),
            rating=request.rating,
            comment=request.comment,
            corrected_answer=request.corrected_answer,
            produced_at=now_timestamp(),
        )
        self._publisher.publish(self._topic, f"{tenant}/{request.request_id}", event)


def _check_length(field: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise InvalidArgument(field, f"must be at most {limit} characters, but got {len(text)}")
