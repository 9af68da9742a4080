"""The generate stage's calls: one reply for Ask, a stream checked sentence by sentence for AskStream."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence

import grpc

from ragplane.runtime.errors import from_rpc_error
from ragplane.v1 import common_pb2, generate_pb2, guardrail_pb2
from ragplane_orchestrator.downstream import Downstream, Timings
from ragplane_orchestrator.stream import Blocked, Delta, Generated, GenerationEvent

BLOCK = common_pb2.GUARDRAIL_ACTION_BLOCK
REDACT = common_pb2.GUARDRAIL_ACTION_REDACT
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_ROLES = {"user": common_pb2.CONVERSATION_ROLE_USER, "assistant": common_pb2.CONVERSATION_ROLE_ASSISTANT}


def conversation(history: list[tuple[str, str]]) -> list[common_pb2.ConversationTurn]:
    """Session turns as (role, text) pairs -> the generate service's conversation turns."""
    return [common_pb2.ConversationTurn(role=_ROLES[role], text=text) for role, text in history]


def split_sentences(text: str) -> tuple[str, str]:
    """(the finished sentences with their trailing separators, the unfinished rest) of streamed text."""
    parts = _SENTENCE_END.split(text)
    if len(parts) == 1:
        return "", text
    return text[: len(text) - len(parts[-1])], parts[-1]


class AnswerGenerator:
    """Calls the generate service for one answer.

    Args:
        downstream: the stubs (generate, and guardrail for the per-sentence checks).
        check_sentences: hold streamed text back until a sentence ended and passed the output guardrail.
    """

    def __init__(self, downstream: Downstream, check_sentences: bool) -> None:
        self._downstream = downstream
        self._check_sentences = check_sentences

    async def complete(
        self,
        query: str,
        context: Sequence[common_pb2.Chunk],
        history: list[tuple[str, str]],
        sampling: common_pb2.SamplingParams,
        timings: Timings,
    ) -> generate_pb2.GenerationResult:
        """The whole answer in one reply (recorded as the "generate" stage)."""
        reply = await self._downstream.call(
            "generate",
            "generate",
            timings,
            self._downstream.generate.Generate,
            generate_pb2.GenerateRequest(
                query=query, context=context, history=conversation(history), sampling=sampling
            ),
        )
        return reply.result

    async def stream(
        self,
        query: str,
        context: Sequence[common_pb2.Chunk],
        history: list[tuple[str, str]],
        sampling: common_pb2.SamplingParams,
        timings: Timings,
    ) -> AsyncIterator[GenerationEvent]:
        """Yield a ``Delta`` per checked piece, then ``Generated`` or ``Blocked`` (the stream is then cancelled).

        With sentence checks on, text is held back until a sentence ends and that sentence passed the output
        guardrail (PII redacted before it reaches the caller); the final answer is checked again as a whole.

        Raises:
            RagplaneError: the generate or guardrail service failed, or the stream ended without a result.
        """
        started = time.perf_counter()
        held = ""
        generation = None
        call = self._downstream.generate.GenerateStream(
            generate_pb2.GenerateStreamRequest(
                query=query, context=context, history=conversation(history), sampling=sampling
            )
        )
        try:
            async for message in call:
                if message.HasField("result"):
                    generation = message.result
                    continue
                if not self._check_sentences:
                    yield Delta(message.delta)
                    continue
                finished, held = split_sentences(held + message.delta)
                if finished:
                    checked = await self._check_piece(query, finished, context)
                    yield checked
                    if isinstance(checked, Blocked):
                        call.cancel()
                        return
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "generate") from None
        finally:
            timings.add("generate", time.perf_counter() - started)
        if held:
            checked = await self._check_piece(query, held, context)
            if isinstance(checked, Blocked):
                yield checked
                return
            if checked.text:
                yield checked
        if generation is None:
            raise from_rpc_error(_StreamEnded(), "generate")
        yield Generated(generation)

    async def _check_piece(self, query: str, text: str, context: Sequence[common_pb2.Chunk]) -> Delta | Blocked:
        """The text to send for one finished piece of a streamed answer, or the blocking verdict."""
        if not text.strip():
            return Delta(text)
        # Per-piece checks are not stages of the answer's timings (the whole answer is checked again).
        reply = await self._downstream.call(
            "guardrail",
            "guardrail_stream",
            Timings(),
            self._downstream.guardrail.CheckOutput,
            guardrail_pb2.CheckOutputRequest(query=query, answer=text, context=context),
        )
        if reply.verdict.action == BLOCK:
            return Blocked(reply.verdict)
        if reply.verdict.action == REDACT and reply.verdict.redacted_text:
            # keep the whitespace that separated this piece from the next one
            trailing = text[len(text.rstrip()) :]
            return Delta(reply.verdict.redacted_text.rstrip() + trailing)
        return Delta(text)


class _StreamEnded(grpc.RpcError):
    """The generate stream ended without its final result message."""

    def code(self):
        return grpc.StatusCode.UNAVAILABLE

    def details(self):
        return "stream ended without a result"
