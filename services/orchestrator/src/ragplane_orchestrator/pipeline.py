"""The query path: input guardrail -> caches -> embed -> retrieve -> rerank -> generate -> output guardrail.

``QueryPipeline.run`` is one async generator for both Ask and AskStream: it yields ``("delta", text)`` while an
answer streams and ends with ``("result", AnswerResult)``. Everything here is scoped to the authenticated
tenant from the request context; nothing is read from the request body to decide the tenant.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
from google.protobuf import json_format
from redis import exceptions as redis_errors

from ragplane.runtime.context import current_request_id, current_tenant, hash_identity, new_request_id, principal_var
from ragplane.runtime.errors import InvalidArgument, RagplaneError, Unavailable, from_rpc_error
from ragplane.runtime.logs import get_logger
from ragplane.v1 import common_pb2, events_pb2, generate_pb2, guardrail_pb2, rag_pb2, rerank_pb2, retrieve_pb2

from ragplane_orchestrator import metrics
from ragplane_orchestrator.cache import CachedAnswer, ExactCache, IndexVersions, SemanticCache
from ragplane_orchestrator.config import Settings
from ragplane_orchestrator.downstream import Downstream, Timings
from ragplane_orchestrator.events import EventPublisher, now_timestamp
from ragplane_orchestrator.ratelimit import RateLimiter
from ragplane_orchestrator.sessions import SessionStore, validate_session_id

log = get_logger(__name__)

BLOCK = common_pb2.GUARDRAIL_ACTION_BLOCK
REDACT = common_pb2.GUARDRAIL_ACTION_REDACT
NO_CONTEXT_ANSWER = "I could not find anything in the indexed documents that answers this question."
BLOCKED_INPUT_ANSWER = "This question was blocked by policy and was not answered."
BLOCKED_OUTPUT_ANSWER = "The answer was withheld by policy."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class Question:
    query: str
    session_id: str
    filters: list[common_pb2.FieldFilter]
    options: rag_pb2.AskOptions


def _validate(question: Question, settings: Settings) -> None:
    if not question.query.strip():
        raise InvalidArgument("query", "must not be empty")
    if len(question.query) > settings.max_query_chars:
        raise InvalidArgument("query", f"must be at most {settings.max_query_chars} characters, "
                                       f"but got {len(question.query)}")
    if question.session_id:
        validate_session_id(question.session_id)
    options = question.options
    if options.top_k > 200:
        raise InvalidArgument("options.top_k", f"must be <= 200, but got {options.top_k}")
    if options.top_n and options.top_k and options.top_n > options.top_k:
        raise InvalidArgument("options.top_n", f"must be <= options.top_k ({options.top_k}), but got {options.top_n}")
    if options.sampling.max_tokens > 4096:
        raise InvalidArgument("options.sampling.max_tokens", f"must be <= 4096, but got {options.sampling.max_tokens}")
    for index, condition in enumerate(question.filters):
        if not condition.field:
            raise InvalidArgument(f"filters[{index}].field", "must not be empty")


def _scope(question: Question, top_k: int, top_n: int) -> str:
    """Everything besides the question text that changes the answer, canonicalised for cache keys."""
    filters = [json_format.MessageToDict(f, preserving_proto_field_name=True) for f in question.filters]
    sampling = json_format.MessageToDict(question.options.sampling, preserving_proto_field_name=True)
    return json.dumps({"filters": filters, "top_k": top_k, "top_n": top_n, "sampling": sampling}, sort_keys=True)


def _citation_dicts(citations) -> list[dict]:
    return [json_format.MessageToDict(c, preserving_proto_field_name=True) for c in citations]


def _citations_from(dicts: list[dict]) -> list[common_pb2.Citation]:
    return [json_format.ParseDict(d, common_pb2.Citation()) for d in dicts]


class QueryPipeline:
    def __init__(self, settings: Settings, downstream: Downstream, exact: ExactCache, semantic: SemanticCache,
                 versions: IndexVersions, sessions: SessionStore, limiter: RateLimiter,
                 publisher: EventPublisher) -> None:
        self.settings = settings
        self.downstream = downstream
        self.exact = exact
        self.semantic = semantic
        self.versions = versions
        self.sessions = sessions
        self.limiter = limiter
        self.publisher = publisher
        # Called with (tenant, request_id) once an answer exists (feedback checks against it).
        self.on_answer: Callable[[str, str], Awaitable[None]] | None = None

    async def run(self, question: Question, stream: bool) -> AsyncIterator[tuple[str, object]]:
        """Answer one question; yields ("delta", str) while streaming and ends with ("result", AnswerResult).

        Raises:
            RagplaneError: invalid input, rate limits, or a failed stage (the error is also published).
        """
        try:
            async for kind, payload in self._run(question, stream):
                if kind == "result" and self.on_answer is not None:
                    await self.on_answer(current_tenant(), payload.request_id)
                yield kind, payload
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            raise Unavailable(f"Redis (caches, sessions, rate limits) is unreachable: {exc}") from exc

    async def _run(self, question: Question, stream: bool) -> AsyncIterator[tuple[str, object]]:
        _validate(question, self.settings)
        tenant = current_tenant()
        request_id = current_request_id() or new_request_id()
        started = time.perf_counter()
        timings = Timings()
        event = events_pb2.AnswerEvent(request_id=request_id, tenant=tenant, session_id=question.session_id,
                                       user_hash=hash_identity(principal_var.get() or "", self.settings.user_hash_salt))
        result = rag_pb2.AnswerResult(request_id=request_id, session_id=question.session_id,
                                      cache=common_pb2.CACHE_OUTCOME_MISS)
        first_token_at: float | None = None
        try:
            await self.limiter.admit(tenant)
            # 1. input guardrail
            checked = await self.downstream.call(
                "guardrail", "guardrail_input", timings, self.downstream.guardrail.CheckInput,
                guardrail_pb2.CheckInputRequest(text=question.query))
            result.input_verdict.CopyFrom(checked.verdict)
            metrics.GUARDRAIL_VERDICTS.labels("input", common_pb2.GuardrailAction.Name(checked.verdict.action)).inc()
            query = checked.verdict.redacted_text if checked.verdict.action == REDACT and checked.verdict.redacted_text \
                else question.query
            event.query = query
            if checked.verdict.action == BLOCK:
                result.blocked = True
                result.answer = BLOCKED_INPUT_ANSWER
                metrics.ANSWERS.labels("blocked_input").inc()
                yield "result", self._finish(result, event, timings, started, None)
                return

            history = await self.sessions.history(tenant, question.session_id) if question.session_id else []
            top_k = question.options.top_k or self.settings.top_k
            top_n = question.options.top_n or self.settings.top_n
            scope = _scope(question, top_k, top_n)
            cacheable = not history and not question.options.bypass_cache
            if question.options.bypass_cache:
                result.cache = common_pb2.CACHE_OUTCOME_BYPASSED
            version = await self.versions.get(tenant)

            # 2. exact cache
            if cacheable:
                lookup_started = time.perf_counter()
                hit = await self.exact.get(tenant, version, query, scope)
                timings.add("cache_exact", time.perf_counter() - lookup_started, downstream=False)
                if hit is not None:
                    metrics.CACHE_LOOKUPS.labels(tenant, "exact_hit").inc()
                    async for item in self._serve_cached(hit, common_pb2.CACHE_OUTCOME_EXACT_HIT, result, event,
                                                         timings, started, stream):
                        yield item
                    return

            # 3. embed the question (also the semantic cache's key)
            embedding = await self.downstream.embed_query(query, timings)
            if cacheable:
                lookup_started = time.perf_counter()
                similar = await self.semantic.lookup(tenant, version, scope, list(embedding.dense))
                timings.add("cache_semantic", time.perf_counter() - lookup_started, downstream=False)
                if similar is not None:
                    metrics.CACHE_LOOKUPS.labels(tenant, "semantic_hit").inc()
                    async for item in self._serve_cached(similar[0], common_pb2.CACHE_OUTCOME_SEMANTIC_HIT, result,
                                                         event, timings, started, stream):
                        yield item
                    return
                metrics.CACHE_LOOKUPS.labels(tenant, "miss").inc()

            # 4. retrieve (hybrid) and 5. rerank
            search = await self.downstream.call(
                "retrieve", "retrieve", timings, self.downstream.retrieve.Search,
                retrieve_pb2.SearchRequest(dense_vector=embedding.dense, sparse_vector=embedding.sparse, top_k=top_k,
                                           filters=question.filters, mode=retrieve_pb2.SEARCH_MODE_HYBRID))
            candidates = list(search.results)
            context = await self._rerank(query, candidates, top_n, timings)
            event.context.extend(context)

            # 6. generate
            if not context:
                answer_text = NO_CONTEXT_ANSWER
                if stream:
                    first_token_at = time.perf_counter()
                    yield "delta", answer_text
                generation = generate_pb2.GenerationResult(text=answer_text, finish_reason="no_context")
            elif stream:
                generation = None
                emitted: list[str] = []
                async for kind, payload in self._generate_stream(query, context, history, question, timings):
                    if kind == "delta":
                        if first_token_at is None:
                            first_token_at = time.perf_counter()
                        emitted.append(payload)
                        yield "delta", payload
                    elif kind == "blocked":
                        result.blocked = True
                        result.output_verdict.CopyFrom(payload)
                    else:
                        generation = payload
                if result.blocked:
                    result.answer = BLOCKED_OUTPUT_ANSWER
                    metrics.ANSWERS.labels("blocked_output").inc()
                    yield "result", self._finish(result, event, timings, started, first_token_at)
                    return
                assert generation is not None
                generation.text = "".join(emitted)
            else:
                reply = await self.downstream.call(
                    "generate", "generate", timings, self.downstream.generate.Generate,
                    generate_pb2.GenerateRequest(query=query, context=context, history=self._turns(history),
                                                 sampling=question.options.sampling))
                generation = reply.result
            result.model = generation.model
            result.usage.CopyFrom(generation.usage)
            if generation.ttft_ms and not stream:
                timings.add("generate_ttft", generation.ttft_ms / 1000.0, downstream=False)

            # 7. output guardrail on the whole answer, and citations checked against the context
            answer, citations, dropped = self._validated_citations(generation, context)
            if context:
                verdict = await self.downstream.call(
                    "guardrail", "guardrail_output", timings, self.downstream.guardrail.CheckOutput,
                    guardrail_pb2.CheckOutputRequest(query=query, answer=answer, context=context, citations=citations))
                result.output_verdict.CopyFrom(verdict.verdict)
                metrics.GUARDRAIL_VERDICTS.labels("output", common_pb2.GuardrailAction.Name(verdict.verdict.action)).inc()
                if verdict.verdict.action == BLOCK:
                    result.blocked = True
                    result.answer = BLOCKED_OUTPUT_ANSWER
                    metrics.ANSWERS.labels("blocked_output").inc()
                    yield "result", self._finish(result, event, timings, started, first_token_at)
                    return
                if verdict.verdict.action == REDACT and verdict.verdict.redacted_text:
                    answer = verdict.verdict.redacted_text
            result.answer = answer
            result.citations.extend(citations)
            result.dropped_citations = dropped
            metrics.ANSWERS.labels("answered").inc()

            # 8. remember: caches, session, token budget
            cached = CachedAnswer(answer=answer, citations=_citation_dicts(citations), model=result.model,
                                  request_id=request_id, created_at=time.time(),
                                  context=[c.chunk_id for c in context])
            if cacheable and context:
                await self.exact.put(tenant, version, query, scope, cached)
                await self.semantic.put(tenant, version, scope, list(embedding.dense), cached)
            if question.session_id:
                await self.sessions.append(tenant, question.session_id, query, answer)
            await self.limiter.charge_tokens(tenant, result.usage.prompt_tokens + result.usage.completion_tokens)
            metrics.TOKENS.labels(tenant, "in").inc(result.usage.prompt_tokens)
            metrics.TOKENS.labels(tenant, "out").inc(result.usage.completion_tokens)
            yield "result", self._finish(result, event, timings, started, first_token_at)
        except RagplaneError as exc:
            event.error_code = exc.code.name
            event.error_message = exc.message
            metrics.ANSWERS.labels("error").inc()
            self._finish(result, event, timings, started, first_token_at)
            raise

    async def _rerank(self, query: str, candidates, top_n: int, timings: Timings) -> list[common_pb2.Chunk]:
        if not candidates:
            return []
        try:
            reranked = await self.downstream.call(
                "rerank", "rerank", timings, self.downstream.rerank.Rerank,
                rerank_pb2.RerankRequest(query=query, candidates=candidates, top_n=top_n))
            return [scored.chunk for scored in reranked.results]
        except RagplaneError as exc:
            if not exc.retriable:
                raise
            # Rerank improves order but is not essential: answer from the retrieval order instead.
            log.warning("rerank unavailable, using retrieval order", error=exc.message)
            return [scored.chunk for scored in candidates[:top_n]]

    @staticmethod
    def _turns(history: list[tuple[str, str]]) -> list[common_pb2.ConversationTurn]:
        roles = {"user": common_pb2.CONVERSATION_ROLE_USER, "assistant": common_pb2.CONVERSATION_ROLE_ASSISTANT}
        return [common_pb2.ConversationTurn(role=roles[role], text=text) for role, text in history]

    async def _generate_stream(self, query, context, history, question: Question, timings: Timings):
        """Yield ("delta", text) per checked sentence, then ("result", GenerationResult) or ("blocked", verdict).

        With sentence checks on, text is held back until a sentence ends and that sentence passed the output
        guardrail (PII redacted before it reaches the caller); the final answer is checked again as a whole.
        """
        started = time.perf_counter()
        buffer = ""
        generation = None
        call = self.downstream.generate.GenerateStream(
            generate_pb2.GenerateStreamRequest(query=query, context=context, history=self._turns(history),
                                               sampling=question.options.sampling))
        try:
            async for message in call:
                if message.HasField("result"):
                    generation = message.result
                    continue
                if not self.settings.stream_check_sentences:
                    yield "delta", message.delta
                    continue
                buffer += message.delta
                parts = _SENTENCE_END.split(buffer)
                if len(parts) > 1:
                    complete = buffer[: len(buffer) - len(parts[-1])]
                    buffer = parts[-1]
                    checked = await self._check_piece(query, complete, context)
                    if checked is None:
                        call.cancel()
                        return
                    if isinstance(checked, common_pb2.GuardrailVerdict):
                        yield "blocked", checked
                        call.cancel()
                        return
                    yield "delta", checked
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "generate") from None
        finally:
            timings.add("generate", time.perf_counter() - started)
        if buffer:
            checked = await self._check_piece(query, buffer, context)
            if isinstance(checked, common_pb2.GuardrailVerdict):
                yield "blocked", checked
                return
            if checked:
                yield "delta", checked
        if generation is None:
            raise from_rpc_error(_StreamEnded(), "generate")
        yield "result", generation

    async def _check_piece(self, query: str, text: str, context):
        """The text to send for one finished piece of a streamed answer, or the blocking verdict."""
        if not text.strip():
            return text
        timings = Timings()
        reply = await self.downstream.call(
            "guardrail", "guardrail_stream", timings, self.downstream.guardrail.CheckOutput,
            guardrail_pb2.CheckOutputRequest(query=query, answer=text, context=context))
        if reply.verdict.action == BLOCK:
            return reply.verdict
        if reply.verdict.action == REDACT and reply.verdict.redacted_text:
            # keep the whitespace that separated this piece from the next one
            trailing = text[len(text.rstrip()):]
            return reply.verdict.redacted_text.rstrip() + trailing
        return text

    def _validated_citations(self, generation, context) -> tuple[str, list[common_pb2.Citation], int]:
        """Keep citations that map to a chunk of the context; count the rest (they are removed)."""
        context_ids = {chunk.chunk_id for chunk in context}
        kept, dropped = [], len(generation.dropped_citations)
        for citation in generation.citations:
            if citation.chunk_id in context_ids:
                kept.append(citation)
            else:
                dropped += 1
        if dropped:
            metrics.CITATIONS_DROPPED.inc(dropped)
        return generation.text, kept, dropped

    async def _serve_cached(self, hit: CachedAnswer, outcome, result, event, timings, started, stream):
        result.cache = outcome
        result.answer = hit.answer
        result.model = hit.model
        result.citations.extend(_citations_from(hit.citations))
        first = None
        if stream:
            first = time.perf_counter()
            yield "delta", hit.answer
        yield "result", self._finish(result, event, timings, started, first)

    def _finish(self, result, event, timings: Timings, started: float, first_token_at: float | None):
        total = time.perf_counter() - started
        for stage, seconds in timings.stages:
            result.timings.add(stage=stage, latency_ms=round(seconds * 1000, 3))
        overhead = max(0.0, total - timings.downstream_s)
        result.timings.add(stage="orchestrator_overhead", latency_ms=round(overhead * 1000, 3))
        result.timings.add(stage="total", latency_ms=round(total * 1000, 3))
        metrics.OVERHEAD.observe(overhead)
        if first_token_at is not None:
            ttft = first_token_at - started
            result.timings.add(stage="ttft", latency_ms=round(ttft * 1000, 3))
            metrics.TTFT.labels("true").observe(ttft)
            event.ttft_ms = ttft * 1000
        event.answer = result.answer
        event.citations.extend(result.citations)
        event.model = result.model
        event.timings.extend(result.timings)
        event.total_latency_ms = total * 1000
        event.usage.CopyFrom(result.usage)
        event.input_verdict.CopyFrom(result.input_verdict)
        event.output_verdict.CopyFrom(result.output_verdict)
        event.cache = result.cache
        event.produced_at.CopyFrom(now_timestamp())
        self.publisher.publish(self.settings.answers_topic, f"{event.tenant}/{event.request_id}", event)
        return result


class _StreamEnded(grpc.RpcError):
    """The generate stream ended without its final result message."""

    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "stream ended without a result"
