"""Hostile callers against the orchestrator's query path (security review F10, F17, F18, F24): a real orchestrator
with its interceptors, real Redis and the broker, and the stand-in peers of the query-path tests."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid

import grpc
import pytest
from integration.orchestrator.test_orchestrator_with_stand_in_peers import (
    KEYS,
    A,
    Peers,
    _ask,
    _consume,
    _orchestrator_settings,
    serve_peers,
)
from support.servers import serve

from ragplane.v1 import (
    common_pb2,
    events_pb2,
    guardrail_pb2,
    rag_pb2,
    rag_pb2_grpc,
)
from ragplane_orchestrator.app import RagApp

pytestmark = pytest.mark.integration

# A second key of tenant-a: another user of the same tenant.
A2 = [("authorization", "Bearer key-a2")]
FRANCE = "What is the capital of France?"


class WholeAnswerPolicyPeers(Peers):
    """Peers whose output guardrail passes every sentence alone but blocks the whole France answer.

    It stands for policies that need the whole answer (PII split across sentences, grounding): each sentence of
    "Paris is the capital of France. It lies on the Seine." is fine, both together are not.
    """

    async def CheckOutput(self, request, context):
        if "Paris" in request.answer and "Seine" in request.answer:
            return guardrail_pb2.CheckOutputResponse(
                verdict=common_pb2.GuardrailVerdict(
                    action=common_pb2.GUARDRAIL_ACTION_BLOCK,
                    findings=[common_pb2.GuardrailFinding(category="whole_answer_policy", score=1.0)],
                )
            )
        return await super().CheckOutput(request, context)


@contextlib.asynccontextmanager
async def _orchestrator(kafka_bootstrap, redis_url, **overrides):
    """(orchestrator server, peers, settings, app) with a second key of tenant-a and whole-answer policies."""
    peers = WholeAnswerPolicyPeers()
    async with serve_peers(peers, kafka_bootstrap, redis_url) as peer_server:
        settings = dataclasses.replace(
            _orchestrator_settings(kafka_bootstrap, redis_url, peer_server.address),
            api_keys=f"{KEYS},key-a2=tenant-a",
            feedback_rate_limit=3,
            **overrides,
        )
        app = RagApp(settings)
        async with serve(app, settings) as server:
            await app.redis.flushdb()
            yield server, peers, settings, app


@pytest.fixture
async def hardened(kafka_bootstrap, redis_url):
    async with _orchestrator(kafka_bootstrap, redis_url) as stack:
        yield stack


async def _stream(server, query, metadata=A, **fields):
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = rag_pb2_grpc.RagServiceStub(channel)
        request = rag_pb2.AskStreamRequest(query=query, **fields)
        return [m async for m in stub.AskStream(request, metadata=metadata, timeout=20)]


async def _feedback(server, metadata=A, **fields):
    async with grpc.aio.insecure_channel(server.address) as channel:
        request = rag_pb2.FeedbackRequest(**fields)
        return await rag_pb2_grpc.RagServiceStub(channel).Feedback(request, metadata=metadata, timeout=5)


# -- F10: request ids --------------------------------------------------------------------------------------------


async def test_a_hostile_request_id_neither_breaks_the_tenants_semantic_cache_nor_grows_memory(hardened):
    server, _, _, app = hardened
    hostile = await _ask(server, "Which city is the capital of Peru?", metadata=[*A, ("x-request-id", "a|b")])
    assert hostile.answer
    for round_ in range(5):
        # a paraphrase each round: an exact-cache miss, so every round searches the semantic cache
        paraphrase = await _ask(server, f"which city is the capital of Peru, please {round_}?")
        assert paraphrase.cache == common_pb2.CACHE_OUTCOME_SEMANTIC_HIT
    # every replica-local copy holds exactly the entries Redis holds: nothing appended by failed refreshes
    for local in app.pipeline.semantic._local.values():
        assert len(local.ids) == local.loaded == len(local.matrix)
    assert hostile.request_id != "a|b"


@pytest.mark.parametrize("hostile", ["x" * 5000, "a" * 65, "id with spaces", "a|b|c", "../../x"])
async def test_request_ids_outside_the_allowed_form_are_replaced_by_server_ids(hardened, hostile):
    server, _, _, _ = hardened
    result = await _ask(server, FRANCE, metadata=[*A, ("x-request-id", hostile)])
    assert result.request_id != hostile and 1 <= len(result.request_id) <= 64
    assert result.request_id.replace("-", "").isalnum()


async def test_a_well_formed_request_id_is_kept_for_tracing(hardened):
    server, _, _, _ = hardened
    mine = f"trace-{uuid.uuid4().hex}"
    assert (await _ask(server, FRANCE, metadata=[*A, ("x-request-id", mine)])).request_id == mine


# -- F17: AskStream and the whole-answer output check ------------------------------------------------------------


async def test_no_streamed_text_reaches_the_client_when_the_whole_answer_is_blocked(hardened):
    server, _, _, _ = hardened
    messages = await _stream(server, FRANCE)
    deltas = [m.delta for m in messages if m.WhichOneof("event") == "delta"]
    assert deltas == [], f"text streamed before the whole-answer check blocked it: {deltas}"
    result = messages[-1].result
    assert result.blocked and result.output_verdict.action == common_pb2.GUARDRAIL_ACTION_BLOCK
    assert "Paris" not in result.answer


async def test_a_streamed_answer_that_passes_the_whole_answer_check_is_sent_redacted(hardened):
    server, _, _, _ = hardened
    messages = await _stream(server, "What is the capital of Peru?")
    streamed = "".join(m.delta for m in messages if m.WhichOneof("event") == "delta")
    assert streamed == messages[-1].result.answer
    assert "press@lima.example" not in streamed and "<EMAIL>" in streamed


async def test_early_streaming_marks_a_whole_answer_block_on_the_final_result(kafka_bootstrap, redis_url):
    async with _orchestrator(kafka_bootstrap, redis_url, stream_hold_until_checked=False) as (server, *_):
        messages = await _stream(server, FRANCE)
    assert [m.delta for m in messages if m.WhichOneof("event") == "delta"], "early streaming sent nothing"
    # the opt-in trade-off: the text was shown, and the final result tells the client to withdraw it
    assert messages[-1].result.blocked and "Paris" not in messages[-1].result.answer


# -- F18: sessions belong to the principal -----------------------------------------------------------------------


async def test_another_key_of_the_same_tenant_cannot_read_or_extend_a_session(hardened):
    server, peers, _, _ = hardened
    await _ask(server, "Which city is the capital of Peru?", metadata=A, session_id="s1")
    await _ask(server, "Which city is the capital of Peru? What did I ask before?", metadata=A2, session_id="s1")
    assert not peers.generate_calls[-1].history, "key B saw key A's turns"
    await _ask(server, "Which city is the capital of Peru, again?", metadata=A, session_id="s1")
    history = peers.generate_calls[-1].history
    assert [t.text for t in history if t.role == common_pb2.CONVERSATION_ROLE_USER] == [
        "Which city is the capital of Peru?"
    ], "key B's turn was added to key A's session"


# -- F24: limits on what rejected requests and feedback can cost -------------------------------------------------


async def test_rate_limited_requests_publish_no_answer_events(hardened, kafka_bootstrap):
    server, _, settings, _ = hardened
    limited = [("authorization", "Bearer key-slow")]
    for _ in range(2):
        await _ask(server, "What is Mars?", metadata=limited)
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _ask(server, "What is Mars?", metadata=limited)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    marker = await _ask(server, FRANCE)
    events = _consume(settings.answers_topic, kafka_bootstrap, 8, events_pb2.AnswerEvent, timeout_s=10)
    assert marker.request_id in {e.request_id for e in events}
    assert not [e for e in events if e.HasField("error_status")], "refused requests were published for scoring"


async def test_an_oversized_corrected_answer_is_invalid_argument_naming_the_field(hardened):
    server, _, _, _ = hardened
    answered = await _ask(server, FRANCE)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _feedback(server, request_id=answered.request_id, corrected_answer="x" * 5_000_000)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("corrected_answer: must be at most")
    assert "5000000" in caught.value.details()


async def test_feedback_is_rate_limited_per_tenant_with_retry_information(hardened):
    server, _, settings, _ = hardened
    answered = await _ask(server, FRANCE)
    up = common_pb2.FEEDBACK_RATING_THUMBS_UP
    for _ in range(settings.feedback_rate_limit):
        await _feedback(server, request_id=answered.request_id, rating=up)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _feedback(server, request_id=answered.request_id, rating=up)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "feedback" in caught.value.details()
    assert 0 < float(dict(caught.value.trailing_metadata())["retry-after"]) <= 60
    # another tenant is not charged for tenant-a's feedback
    other = await _ask(server, "What is Mars?", metadata=[("authorization", "Bearer key-b")])
    await _feedback(server, [("authorization", "Bearer key-b")], request_id=other.request_id, rating=up)
