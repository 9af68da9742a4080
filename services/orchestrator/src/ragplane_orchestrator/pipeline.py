"""The query path as named stages: admit -> input guardrail -> plan -> exact cache -> embed -> semantic cache ->
retrieve and rerank -> generate -> output guardrail and citations -> remember -> record.

``QueryPipeline.run`` is one async generator for both Ask and AskStream: it yields ``Delta`` events while an
answer streams and ends with one ``Final`` (see ``stream.py``). Each stage is a method that takes the request
in flight (``Answering``) and returns what the next stage needs. Everything here is scoped to the
authenticated tenant from the request context; nothing is read from the request body to decide the tenant.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from google.protobuf import json_format
from redis import exceptions as redis_errors

from ragplane.runtime.context import current_request_id, current_tenant, hash_identity, new_request_id, principal_var
from ragplane.runtime.errors import RagplaneError, ResourceExhausted, Unavailable
from ragplane.runtime.logs import get_logger
from ragplane.runtime.rpc_status import status_of
from ragplane.v1 import (
    common_pb2,
    embed_pb2,
    events_pb2,
    generate_pb2,
    guardrail_pb2,
    rag_pb2,
    rerank_pb2,
    retrieve_pb2,
)
from ragplane_orchestrator import metrics
from ragplane_orchestrator.cache import CachedAnswer, ExactCache, IndexVersions, SemanticCache
from ragplane_orchestrator.config import Settings
from ragplane_orchestrator.downstream import Downstream, Timings
from ragplane_orchestrator.events import EventPublisher, now_timestamp
from ragplane_orchestrator.generation import BLOCK, REDACT, AnswerGenerator
from ragplane_orchestrator.question import Question, cache_scope, validate
from ragplane_orchestrator.ratelimit import RateLimiter
from ragplane_orchestrator.search import retrieve_error, to_hits, validate_search
from ragplane_orchestrator.sessions import SessionStore
from ragplane_orchestrator.stream import AnswerEvent, Blocked, Delta, Final, Generated, GenerationEvent

log = get_logger(__name__)

NO_CONTEXT_ANSWER = "I could not find anything in the indexed documents that answers this question."
BLOCKED_INPUT_ANSWER = "This question was blocked by policy and was not answered."
BLOCKED_OUTPUT_ANSWER = "The answer was withheld by policy."
# Joins the caller's history turns for the one input guardrail check (and splits the redacted text back).
_HISTORY_SEPARATOR = "\n\n---\n\n"


def _checked_history(history: list[tuple[str, str]], checked: str) -> list[tuple[str, str]]:
    """The caller's turns as the input guardrail let them through: its redacted text split back into the turns,
    or, where a redaction ate a separator, the whole redacted text as one user turn."""
    texts = checked.split(_HISTORY_SEPARATOR)
    if len(texts) == len(history):
        return [(role, text) for (role, _), text in zip(history, texts, strict=True)]
    return [("user", checked)]


@dataclass
class Answering:
    """One question in flight: what the stages read, and the result and event they fill in."""

    question: Question
    stream: bool
    tenant: str
    principal: str  # sessions belong to it
    started: float
    result: rag_pb2.AnswerResult
    event: events_pb2.AnswerEvent
    timings: Timings = field(default_factory=Timings)
    query: str = ""  # the question as the input guardrail let it through (possibly redacted)
    history: list[tuple[str, str]] = field(default_factory=list)  # the caller's turns as the guardrail let them
    first_token_at: float | None = None

    def first_token(self) -> None:
        """Note when the caller got its first piece of answer text (TTFT)."""
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()


@dataclass(frozen=True)
class Plan:
    """What the question's options, session and tenant decide before the caches are asked."""

    history: list[tuple[str, str]]
    top_k: int
    top_n: int
    scope: str  # the cache key's part besides the question text
    cacheable: bool
    version: int  # the tenant's index version (cache keys embed it)


@dataclass(frozen=True)
class Checked:
    """An answer the output guardrail let through, with the citations that map to its context."""

    answer: str
    citations: list[common_pb2.Citation]
    dropped: int


class QueryPipeline:
    """Answers questions through the stages above; one instance serves every request of the process.

    Args:
        on_answer: called with (tenant, request_id) once an answer exists (feedback checks against it).
    """

    def __init__(
        self,
        settings: Settings,
        downstream: Downstream,
        exact: ExactCache,
        semantic: SemanticCache,
        versions: IndexVersions,
        sessions: SessionStore,
        limiter: RateLimiter,
        publisher: EventPublisher,
        on_answer: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self.downstream = downstream
        # Held-back text is checked as a whole before it is sent; sentence checks would only add calls.
        self.generator = AnswerGenerator(
            downstream, settings.stream_check_sentences and not settings.stream_hold_until_checked
        )
        self.exact = exact
        self.semantic = semantic
        self.versions = versions
        self.sessions = sessions
        self.limiter = limiter
        self.publisher = publisher
        self.on_answer = on_answer

    async def run(self, question: Question, stream: bool) -> AsyncIterator[AnswerEvent]:
        """Answer one question; yields ``Delta`` while streaming and ends with ``Final``.

        Raises:
            RagplaneError: invalid input, rate limits, or a failed stage (the error is also published).
        """
        try:
            async for item in self._run(question, stream):
                if isinstance(item, Final) and self.on_answer is not None:
                    await self.on_answer(current_tenant(), item.result.request_id)
                yield item
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            # The client learns which dependency failed, not where it lives; the log keeps the details.
            log.warning("redis unreachable", error=str(exc))
            raise Unavailable("Redis (caches, sessions, rate limits) is unreachable") from exc

    async def search(self, request: rag_pb2.RagServiceSearchRequest) -> rag_pb2.RagServiceSearchResponse:
        """The passages that match a query, through admission, the input guardrail, embed, retrieve and rerank;
        nothing is generated, cached or published.

        Raises:
            RagplaneError: invalid input (naming the field), rate limits, or a failed stage.
        """
        validate_search(request, self.settings)
        try:
            return await self._search(request)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            log.warning("redis unreachable", error=str(exc))
            raise Unavailable("Redis (caches, sessions, rate limits) is unreachable") from exc

    async def _search(self, request: rag_pb2.RagServiceSearchRequest) -> rag_pb2.RagServiceSearchResponse:
        started = time.perf_counter()
        try:
            await self.limiter.admit(current_tenant())
        except ResourceExhausted:
            metrics.SEARCHES.labels("rate_limited").inc()
            raise
        timings = Timings()
        response = rag_pb2.RagServiceSearchResponse(request_id=current_request_id() or new_request_id())
        try:
            verdict, query = await self._check_input(request.query, timings)
            response.input_verdict.CopyFrom(verdict)
            if verdict.action == BLOCK:
                response.blocked = True
            else:
                await self._find(request, query, response, timings)
        except RagplaneError:
            metrics.SEARCHES.labels("error").inc()
            raise
        metrics.SEARCHES.labels("blocked_input" if response.blocked else "ok").inc()
        for stage, seconds in timings.stages:
            response.timings.add(stage=stage, latency_ms=round(seconds * 1000, 3))
        response.timings.add(stage="total", latency_ms=round((time.perf_counter() - started) * 1000, 3))
        return response

    async def _find(
        self,
        request: rag_pb2.RagServiceSearchRequest,
        query: str,
        response: rag_pb2.RagServiceSearchResponse,
        timings: Timings,
    ) -> None:
        """Embed, retrieve and (unless turned off) rerank: the hits, into ``response``."""
        top_k = request.top_k or self.settings.top_n
        rerank = request.rerank if request.HasField("rerank") else True
        embedding = await self.downstream.embed_query(query, timings)
        found = await self.downstream.call(
            "retrieve",
            "retrieve",
            timings,
            self.downstream.retrieve.Search,
            retrieve_pb2.SearchRequest(
                dense_vector=embedding.dense,
                sparse_vector=embedding.sparse,
                # The reranker picks from more candidates than it returns, as for Ask.
                top_k=max(top_k, self.settings.top_k) if rerank else top_k,
                filters=request.filters,
                mode=retrieve_pb2.SEARCH_MODE_HYBRID,
            ),
            translate=retrieve_error,
        )
        candidates = list(found.results)
        if rerank and candidates:
            ranked, response.reranked = await self._rerank(query, candidates, top_k, timings)
        else:
            ranked = candidates[:top_k]
        response.hits.extend(to_hits(ranked, response.reranked))

    async def _run(self, question: Question, stream: bool) -> AsyncIterator[AnswerEvent]:
        validate(question, self.settings)
        await self._admit()
        answering = self._begin(question, stream)
        try:
            async for item in self._stages(answering):
                yield item
        except RagplaneError as exc:
            answering.event.error_status.CopyFrom(status_of(exc))
            # Still filled for consumers that predate error_status.
            answering.event.error_code = exc.code.name
            answering.event.error_message = exc.message
            metrics.ANSWERS.labels("error").inc()
            self._finish(answering)
            raise

    async def _stages(self, a: Answering) -> AsyncIterator[AnswerEvent]:
        if not await self._guard_input(a):
            yield self._refuse(a, BLOCKED_INPUT_ANSWER, "blocked_input")
            return
        plan = await self._plan(a)
        hit = await self._exact_hit(a, plan)
        if hit is not None:
            async for item in self._serve_cached(a, hit, common_pb2.CACHE_OUTCOME_EXACT_HIT):
                yield item
            return
        embedding = await self.downstream.embed_query(a.query, a.timings)
        hit = await self._semantic_hit(a, plan, embedding)
        if hit is not None:
            async for item in self._serve_cached(a, hit, common_pb2.CACHE_OUTCOME_SEMANTIC_HIT):
                yield item
            return
        context = await self._retrieve(a, plan, embedding)
        outcome: Generated | Blocked | Checked | None = None
        held: list[Delta] = []
        # Run the generation to its end (its timing is recorded when it closes) before the answer is final.
        async for item in self._generate(a, plan, context):
            if not isinstance(item, Delta):
                outcome = item
            elif self.settings.stream_hold_until_checked:
                held.append(item)
            else:
                a.first_token()
                yield item
        if isinstance(outcome, Generated):
            a.result.model = outcome.generation.model
            a.result.usage.CopyFrom(outcome.generation.usage)
            outcome = await self._guard_output(a, outcome.generation, context)
        if isinstance(outcome, Blocked):
            a.result.output_verdict.CopyFrom(outcome.verdict)
            yield self._refuse(a, BLOCKED_OUTPUT_ANSWER, "blocked_output")
            return
        assert isinstance(outcome, Checked)
        for delta in _released(held, outcome.answer):
            a.first_token()
            yield delta
        await self._remember(a, plan, embedding, context, outcome)
        yield Final(self._finish(a))

    # -- stages -----------------------------------------------------------------------------------------

    async def _admit(self) -> None:
        """The tenant's rate limit. A refused request is no answer: it is counted, not published as an event
        (a flood of refusals would otherwise flood the answers topic and online evaluation)."""
        try:
            await self.limiter.admit(current_tenant())
        except ResourceExhausted:
            metrics.ANSWERS.labels("rate_limited").inc()
            raise

    def _begin(self, question: Question, stream: bool) -> Answering:
        tenant = current_tenant()
        principal = principal_var.get() or ""
        request_id = current_request_id() or new_request_id()
        event = events_pb2.AnswerEvent(
            request_id=request_id,
            tenant=tenant,
            session_id=question.session_id,
            user_hash=hash_identity(principal, self.settings.user_hash_salt),
        )
        result = rag_pb2.AnswerResult(
            request_id=request_id, session_id=question.session_id, cache=common_pb2.CACHE_OUTCOME_MISS
        )
        return Answering(question, stream, tenant, principal, time.perf_counter(), result, event)

    async def _guard_input(self, a: Answering) -> bool:
        """Input guardrail: False when the question or the caller's history is blocked; sets the (possibly
        redacted) query and history."""
        verdict, a.query = await self._check_input(a.question.query, a.timings)
        a.result.input_verdict.CopyFrom(verdict)
        a.event.query = a.query
        if verdict.action == BLOCK:
            return False
        if a.question.history:
            # The caller's turns are as untrusted as its question (an injection can hide in an "assistant" turn):
            # one check of all of them; a block is the verdict the caller sees.
            texts = [text for _, text in a.question.history]
            verdict, checked = await self._check_input(_HISTORY_SEPARATOR.join(texts), a.timings)
            a.history = _checked_history(a.question.history, checked)
            if verdict.action == BLOCK:
                a.result.input_verdict.CopyFrom(verdict)
                return False
        return True

    async def _check_input(self, query: str, timings: Timings) -> tuple[common_pb2.GuardrailVerdict, str]:
        """The input guardrail's verdict and the query as it lets it through (redacted when it redacts)."""
        checked = await self.downstream.call(
            "guardrail",
            "guardrail_input",
            timings,
            self.downstream.guardrail.CheckInput,
            guardrail_pb2.CheckInputRequest(text=query),
        )
        verdict = checked.verdict
        metrics.GUARDRAIL_VERDICTS.labels("input", common_pb2.GuardrailAction.Name(verdict.action)).inc()
        return verdict, verdict.redacted_text if verdict.action == REDACT and verdict.redacted_text else query

    async def _plan(self, a: Answering) -> Plan:
        question = a.question
        if question.session_id:
            history = await self.sessions.history(a.tenant, a.principal, question.session_id)
        else:
            history = a.history
        top_k = question.options.top_k or self.settings.top_k
        top_n = question.options.top_n or self.settings.top_n
        if question.options.bypass_cache:
            a.result.cache = common_pb2.CACHE_OUTCOME_BYPASSED
        # A follow-up question's answer depends on the session or the caller's history, which the cache keys
        # do not hold.
        cacheable = not history and not question.options.bypass_cache
        return Plan(
            history, top_k, top_n, cache_scope(question, top_k, top_n), cacheable, await self.versions.get(a.tenant)
        )

    async def _exact_hit(self, a: Answering, plan: Plan) -> CachedAnswer | None:
        if not plan.cacheable:
            return None
        started = time.perf_counter()
        hit = await self.exact.get(a.tenant, plan.version, a.query, plan.scope)
        a.timings.add("cache_exact", time.perf_counter() - started, downstream=False)
        if hit is not None:
            metrics.CACHE_LOOKUPS.labels(a.tenant, "exact_hit").inc()
        return hit

    async def _semantic_hit(self, a: Answering, plan: Plan, embedding: embed_pb2.Embedding) -> CachedAnswer | None:
        if not plan.cacheable:
            return None
        started = time.perf_counter()
        similar = await self.semantic.lookup(a.tenant, plan.version, plan.scope, list(embedding.dense))
        a.timings.add("cache_semantic", time.perf_counter() - started, downstream=False)
        metrics.CACHE_LOOKUPS.labels(a.tenant, "miss" if similar is None else "semantic_hit").inc()
        return None if similar is None else similar[0]

    async def _serve_cached(self, a: Answering, hit: CachedAnswer, outcome: int) -> AsyncIterator[AnswerEvent]:
        a.result.cache = outcome
        a.result.answer = hit.answer
        a.result.model = hit.model
        a.result.citations.extend(json_format.ParseDict(d, common_pb2.Citation()) for d in hit.citations)
        if a.stream:
            a.first_token()
            yield Delta(hit.answer)
        yield Final(self._finish(a))

    async def _retrieve(self, a: Answering, plan: Plan, embedding: embed_pb2.Embedding) -> list[common_pb2.Chunk]:
        """Hybrid search, then rerank: the passages the answer is generated from."""
        search = await self.downstream.call(
            "retrieve",
            "retrieve",
            a.timings,
            self.downstream.retrieve.Search,
            retrieve_pb2.SearchRequest(
                dense_vector=embedding.dense,
                sparse_vector=embedding.sparse,
                top_k=plan.top_k,
                filters=a.question.filters,
                mode=retrieve_pb2.SEARCH_MODE_HYBRID,
            ),
            translate=retrieve_error,
        )
        ranked, _ = await self._rerank(a.query, list(search.results), plan.top_n, a.timings)
        context = [scored.chunk for scored in ranked]
        a.event.context.extend(context)
        return context

    async def _rerank(
        self, query: str, candidates: list[common_pb2.ScoredChunk], top_n: int, timings: Timings
    ) -> tuple[list[common_pb2.ScoredChunk], bool]:
        """The best ``top_n`` candidates in rerank order, and whether the reranker ordered them."""
        if not candidates:
            return [], True
        try:
            reranked = await self.downstream.call(
                "rerank",
                "rerank",
                timings,
                self.downstream.rerank.Rerank,
                rerank_pb2.RerankRequest(query=query, candidates=candidates, top_n=top_n),
            )
            return list(reranked.results), True
        except RagplaneError as exc:
            if not exc.retriable:
                raise
            # Rerank improves order but is not essential: answer from the retrieval order instead.
            log.warning("rerank unavailable, using retrieval order", error=exc.message)
            return candidates[:top_n], False

    async def _generate(
        self, a: Answering, plan: Plan, context: list[common_pb2.Chunk]
    ) -> AsyncIterator[GenerationEvent]:
        """``Delta`` pieces while streaming, then ``Generated`` (its text is what the caller saw) or ``Blocked``."""
        sampling = a.question.options.sampling
        if not context:
            if a.stream:
                yield Delta(NO_CONTEXT_ANSWER)
            yield Generated(generate_pb2.GenerationResult(text=NO_CONTEXT_ANSWER, finish_reason="no_context"))
        elif not a.stream:
            generation = await self.generator.complete(a.query, context, plan.history, sampling, a.timings)
            if generation.ttft_ms:
                a.timings.add("generate_ttft", generation.ttft_ms / 1000.0, downstream=False)
            yield Generated(generation)
        else:
            emitted: list[str] = []
            async for item in self.generator.stream(a.query, context, plan.history, sampling, a.timings):
                if isinstance(item, Delta):
                    emitted.append(item.text)
                elif isinstance(item, Generated):
                    item.generation.text = "".join(emitted)
                yield item

    async def _guard_output(
        self, a: Answering, generation: generate_pb2.GenerationResult, context: list[common_pb2.Chunk]
    ) -> Checked | Blocked:
        """Citations checked against the context, then the output guardrail on the whole answer."""
        citations, dropped = _citations_in(generation, context)
        answer = generation.text
        if context:
            reply = await self.downstream.call(
                "guardrail",
                "guardrail_output",
                a.timings,
                self.downstream.guardrail.CheckOutput,
                guardrail_pb2.CheckOutputRequest(query=a.query, answer=answer, context=context, citations=citations),
            )
            verdict = reply.verdict
            a.result.output_verdict.CopyFrom(verdict)
            metrics.GUARDRAIL_VERDICTS.labels("output", common_pb2.GuardrailAction.Name(verdict.action)).inc()
            if verdict.action == BLOCK:
                return Blocked(verdict)
            if verdict.action == REDACT and verdict.redacted_text:
                answer = verdict.redacted_text
        return Checked(answer, citations, dropped)

    async def _remember(
        self,
        a: Answering,
        plan: Plan,
        embedding: embed_pb2.Embedding,
        context: list[common_pb2.Chunk],
        checked: Checked,
    ) -> None:
        """Accept the answer, then cache it, add it to the session and charge its tokens."""
        result = a.result
        result.answer = checked.answer
        result.citations.extend(checked.citations)
        result.dropped_citations = checked.dropped
        metrics.ANSWERS.labels("answered").inc()
        cached = CachedAnswer(
            answer=checked.answer,
            request_id=result.request_id,
            model=result.model,
            citations=[json_format.MessageToDict(c, preserving_proto_field_name=True) for c in checked.citations],
            created_at=time.time(),
            context=[c.chunk_id for c in context],
        )
        if plan.cacheable and context:
            await self.exact.put(a.tenant, plan.version, a.query, plan.scope, cached)
            await self.semantic.put(a.tenant, plan.version, plan.scope, list(embedding.dense), cached)
        if a.question.session_id:
            await self.sessions.append(a.tenant, a.principal, a.question.session_id, a.query, checked.answer)
        await self.limiter.charge_tokens(a.tenant, result.usage.prompt_tokens + result.usage.completion_tokens)
        metrics.TOKENS.labels(a.tenant, "in").inc(result.usage.prompt_tokens)
        metrics.TOKENS.labels(a.tenant, "out").inc(result.usage.completion_tokens)

    def _refuse(self, a: Answering, answer: str, outcome: str) -> Final:
        """A guardrail block: a normal answer that says so."""
        a.result.blocked = True
        a.result.answer = answer
        metrics.ANSWERS.labels(outcome).inc()
        return Final(self._finish(a))

    def _finish(self, a: Answering) -> rag_pb2.AnswerResult:
        """Add the timings to the result and publish the answer event (also for errors)."""
        result, event = a.result, a.event
        total = time.perf_counter() - a.started
        for stage, seconds in a.timings.stages:
            result.timings.add(stage=stage, latency_ms=round(seconds * 1000, 3))
        overhead = max(0.0, total - a.timings.downstream_s)
        result.timings.add(stage="orchestrator_overhead", latency_ms=round(overhead * 1000, 3))
        result.timings.add(stage="total", latency_ms=round(total * 1000, 3))
        metrics.OVERHEAD.observe(overhead)
        if a.first_token_at is not None:
            ttft = a.first_token_at - a.started
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


def _released(held: list[Delta], answer: str) -> list[Delta]:
    """What to send of held-back pieces once the whole answer passed: the pieces as generated, or the answer as
    the output guardrail redacted it (in one piece)."""
    if not held or "".join(delta.text for delta in held) == answer:
        return held
    return [Delta(answer)]


def _citations_in(
    generation: generate_pb2.GenerationResult, context: Sequence[common_pb2.Chunk]
) -> tuple[list[common_pb2.Citation], int]:
    """Keep citations that map to a chunk of the context; count the rest (they are removed)."""
    context_ids = {chunk.chunk_id for chunk in context}
    kept = [citation for citation in generation.citations if citation.chunk_id in context_ids]
    dropped = len(generation.dropped_citations) + len(generation.citations) - len(kept)
    if dropped:
        metrics.CITATIONS_DROPPED.inc(dropped)
    return kept, dropped
