"""OpenAI-compatible chat completions and models.

``POST /v1/chat/completions``: the last ``user`` message is the question, asked through the orchestrator's Ask
(or AskStream with ``stream: true``), so guardrails, caches, sessions and rate limits apply as for any gRPC
client. The ``user`` and ``assistant`` messages before it are the conversation's history (AskRequest.history),
as OpenAI clients send the whole conversation each time: the most recent ones within RAGPLANE_GATEWAY_HISTORY_TURNS
and _CHARS (older ones are dropped). With the ``session_id`` extension the orchestrator keeps the turns instead
and earlier messages are not sent. System, developer and tool messages are never sent (the generate service owns
the prompt), nor are messages without text. The answer keeps its ``[n]`` citation markers; the cited passages are
in ``choices[].message.citations`` (streaming: in the last chunk's ``delta.citations``), each with ``number`` = n.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import grpc
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ragplane.v1 import common_pb2, rag_pb2
from ragplane_gateway.deps import CallMetadata, bearer, settings_of, upstreams
from ragplane_gateway.errors import ApiError, error_body, from_grpc
from ragplane_gateway.filters import Filter, to_proto
from ragplane_gateway.metrics import STREAM_FIRST_BYTE

router = APIRouter(tags=["chat"], dependencies=[Depends(bearer)])

# Proto fields of AskRequest -> the request fields that set them (errors name what the caller sent).
ASK_FIELDS = {
    "query": "messages",
    "history": "messages",
    "session_id": "session_id",
    "filters": "filters",
    "options.top_k": "top_k",
    "options.top_n": "top_n",
    "options.sampling.max_tokens": "max_tokens",
    "options.sampling.temperature": "temperature",
    "options.sampling.top_p": "top_p",
    "options.sampling.stop": "stop",
    "options.sampling.seed": "seed",
}
CACHE_NAMES = {
    common_pb2.CACHE_OUTCOME_UNSPECIFIED: "unspecified",
    common_pb2.CACHE_OUTCOME_MISS: "miss",
    common_pb2.CACHE_OUTCOME_EXACT_HIT: "exact_hit",
    common_pb2.CACHE_OUTCOME_SEMANTIC_HIT: "semantic_hit",
    common_pb2.CACHE_OUTCOME_BYPASSED: "bypassed",
}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content or () if part.type == "text")


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's request (fields ragplane cannot honour are accepted and ignored) plus ragplane's extensions."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(examples=["ragplane"])
    messages: list[ChatMessage] = Field(
        min_length=1,
        description="the last message is the user's question; the user and assistant messages before it are the "
        "conversation's history (the most recent within the gateway's bounds; not sent with session_id); system, "
        "developer and tool messages are ignored",
    )
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=0)
    n: int = Field(1, ge=1, le=1, description="only 1")
    user: str | None = None
    session_id: str | None = Field(
        None, description="ragplane: continue this conversation (the orchestrator keeps its turns)"
    )
    filters: list[Filter] | None = Field(None, description="ragplane: metadata filters on retrieval")
    top_k: int | None = Field(None, ge=1, description="ragplane: retrieval candidates")
    top_n: int | None = Field(None, ge=1, description="ragplane: passages kept after rerank")
    bypass_cache: bool = Field(False, description="ragplane: do not answer from the answer caches")


class Citation(BaseModel):
    number: int = Field(description="the n of the answer's [n] markers")
    doc_id: str
    chunk_id: str
    title: str = ""
    source: str = ""
    page: int = 0
    section_path: list[str] = []


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: str | None = None
    citations: list[Citation] = Field(description="ragplane: the passages the answer's [n] markers cite")


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length", "content_filter"]
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RagplaneInfo(BaseModel):
    """ragplane's extension: what the pipeline did with the question."""

    request_id: str
    session_id: str = ""
    cache: str
    blocked: bool
    dropped_citations: int = 0


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    ragplane: RagplaneInfo


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "ragplane"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


_STARTED = int(time.time())


@router.get("/v1/models", response_model=ModelList, summary="The model names chat completions accept")
async def list_models(request: Request, _: CallMetadata) -> ModelList:
    # The key is required but checked by the services behind: this route calls none of them.
    return ModelList(data=[Model(id=name, created=_STARTED) for name in settings_of(request).models])


@router.get("/v1/models/{model}", response_model=Model, summary="One model chat completions accept")
async def get_model(request: Request, _: CallMetadata, model: str) -> Model:
    if model not in settings_of(request).models:
        raise ApiError(404, f"model {model!r} does not exist", param="model", code="model_not_found")
    return Model(id=model, created=_STARTED)


def _ask_request(body: ChatCompletionRequest, turns: int, chars: int) -> rag_pb2.AskRequest:
    last = body.messages[-1]
    if last.role != "user":
        raise ApiError(
            400,
            f"messages: the last message must be the user's question, got role {last.role!r}",
            param="messages",
            code="invalid_argument",
        )
    stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or ())
    sampling = common_pb2.SamplingParams(
        max_tokens=body.max_completion_tokens or body.max_tokens or 0,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=stop,
        seed=body.seed,
    )
    options = rag_pb2.AskOptions(
        top_k=body.top_k or 0, top_n=body.top_n or 0, sampling=sampling, bypass_cache=body.bypass_cache
    )
    return rag_pb2.AskRequest(
        query=last.text(),
        session_id=body.session_id or "",
        filters=to_proto(body.filters),
        options=options,
        history=[] if body.session_id else history_of(body.messages[:-1], turns, chars),
    )


_ROLES = {"user": common_pb2.CONVERSATION_ROLE_USER, "assistant": common_pb2.CONVERSATION_ROLE_ASSISTANT}


def history_of(messages: list[ChatMessage], turns: int, chars: int) -> list[common_pb2.ConversationTurn]:
    """The user and assistant messages with text as the orchestrator's history turns, oldest first: the most
    recent ones, at most ``turns`` of them and ``chars`` characters together (older ones are dropped, as a model's
    context window would drop them, rather than the request refused)."""
    kept: list[common_pb2.ConversationTurn] = []
    left = chars
    for message in reversed(messages):
        text = message.text()
        if message.role not in _ROLES or not text.strip():
            continue
        if len(kept) == turns or len(text) > left:
            break
        kept.append(common_pb2.ConversationTurn(role=_ROLES[message.role], text=text))
        left -= len(text)
    return kept[::-1]


def citations_of(result: rag_pb2.AnswerResult) -> list[Citation]:
    return [
        Citation(
            number=c.passage_number,
            doc_id=c.doc_id,
            chunk_id=c.chunk_id,
            title=c.title,
            source=c.source,
            page=c.page,
            section_path=list(c.section_path),
        )
        for c in result.citations
    ]


def _info(result: rag_pb2.AnswerResult) -> RagplaneInfo:
    return RagplaneInfo(
        request_id=result.request_id,
        session_id=result.session_id,
        cache=CACHE_NAMES.get(result.cache, "unspecified"),
        blocked=result.blocked,
        dropped_citations=result.dropped_citations,
    )


def _usage(result: rag_pb2.AnswerResult) -> Usage:
    prompt, completion = result.usage.prompt_tokens, result.usage.completion_tokens
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletion,
    summary="Answer the last user message from the indexed documents (OpenAI chat completions)",
    responses={200: {"content": {"text/event-stream": {}}, "description": "JSON, or server-sent events with stream"}},
)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, response: Response, metadata: CallMetadata
) -> Any:
    settings = settings_of(request)
    if body.model not in settings.models:
        raise ApiError(
            404,
            f"model {body.model!r} does not exist; known: {', '.join(settings.models)}",
            param="model",
            code="model_not_found",
        )
    ask = _ask_request(body, settings.history_turns, settings.history_chars)
    request.state.grpc_fields = ASK_FIELDS
    up = upstreams(request)
    if not body.stream:
        started = time.perf_counter()
        reply = await up.rag.Ask(ask, metadata=metadata, timeout=settings.ask_deadline_s)
        # The time spent waiting on the orchestrator, so a client can tell the edge's share of its latency.
        response.headers["Server-Timing"] = f"upstream;dur={(time.perf_counter() - started) * 1000:.3f}"
        result = reply.result
        return ChatCompletion(
            id=f"chatcmpl-{result.request_id}",
            created=int(time.time()),
            model=body.model,
            choices=[
                Choice(
                    message=AssistantMessage(content=result.answer, citations=citations_of(result)),
                    finish_reason="content_filter" if result.blocked else "stop",
                )
            ],
            usage=_usage(result),
            ragplane=_info(result),
        )
    stream_request = rag_pb2.AskStreamRequest(
        query=ask.query, session_id=ask.session_id, filters=ask.filters, options=ask.options, history=ask.history
    )
    started = time.perf_counter()
    call = up.rag.AskStream(stream_request, metadata=metadata, timeout=settings.ask_deadline_s)
    # The first message decides the HTTP status: a refused key, a bad field or a rate limit is an HTTP error,
    # not an event inside a 200 stream.
    try:
        first = await call.read()
    except BaseException:
        call.cancel()
        raise
    if first is grpc.aio.EOF:
        raise ApiError(502, "the orchestrator ended the stream without a result", code="bad_gateway")
    STREAM_FIRST_BYTE.observe(time.perf_counter() - started)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    events = _events(call, first, body.model, request.state.request_id, include_usage)
    return StreamingResponse(
        events, media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


async def _events(
    call: Any, first: rag_pb2.AskStreamResponse, model: str, request_id: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """Server-sent chat.completion.chunk events from AskStream messages, then ``data: [DONE]``.

    The text is sent as it arrives; the final result adds what the deltas did not carry. Where the final answer
    does not continue the streamed text (an answer streamed early and then blocked or redacted by the output
    guardrail), the last chunk carries ``delta.replace_content`` with the answer that stands.
    """
    chunk_id = f"chatcmpl-{request_id}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        payload = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
            **extra,
        }
        return _sse(payload)

    streamed: list[str] = []
    try:
        yield chunk({"role": "assistant", "content": ""})
        message = first
        while message is not grpc.aio.EOF:
            if message.WhichOneof("event") == "delta":
                streamed.append(message.delta)
                yield chunk({"content": message.delta})
            elif message.WhichOneof("event") == "result":
                result = message.result
                shown = "".join(streamed)
                delta: dict[str, Any] = {}
                if result.answer.startswith(shown):
                    if result.answer[len(shown) :]:
                        delta["content"] = result.answer[len(shown) :]
                else:
                    delta["replace_content"] = result.answer
                delta["citations"] = [c.model_dump() for c in citations_of(result)]
                finish = "content_filter" if result.blocked else "stop"
                yield chunk(delta, finish, ragplane=_info(result).model_dump())
                if include_usage:
                    yield _sse(
                        {
                            "id": chunk_id,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "choices": [],
                            "usage": _usage(result).model_dump(),
                        }
                    )
            message = await call.read()
    except grpc.aio.AioRpcError as exc:
        error = from_grpc(exc, ASK_FIELDS)
        yield _sse(error_body(error.message, error.error_type, error.param, error.code))
        return
    finally:
        call.cancel()
    yield b"data: [DONE]\n\n"


class FeedbackBody(BaseModel):
    """A judgement of an earlier answer, by the ``ragplane.request_id`` of its completion."""

    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1)
    rating: Literal["up", "down"] | None = None
    comment: str = ""
    corrected_answer: str = ""


RATINGS = {None: common_pb2.FEEDBACK_RATING_UNSPECIFIED, "up": common_pb2.FEEDBACK_RATING_THUMBS_UP}
RATINGS["down"] = common_pb2.FEEDBACK_RATING_THUMBS_DOWN


@router.post(
    "/v1/feedback",
    status_code=204,
    summary="Record a rating, comment or corrected answer for an earlier answer",
    response_class=Response,
)
async def feedback(body: FeedbackBody, request: Request, metadata: CallMetadata) -> Response:
    request.state.grpc_fields = {name: name for name in ("request_id", "rating", "comment", "corrected_answer")}
    await upstreams(request).rag.Feedback(
        rag_pb2.FeedbackRequest(
            request_id=body.request_id,
            rating=RATINGS[body.rating],
            comment=body.comment,
            corrected_answer=body.corrected_answer,
        ),
        metadata=metadata,
        timeout=settings_of(request).call_deadline_s,
    )
    return Response(status_code=204)
