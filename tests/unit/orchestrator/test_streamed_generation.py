"""The generate stage's stream without a network: stand-in stubs for the generate and guardrail services."""

from __future__ import annotations

import re

import grpc
import pytest

from ragplane.runtime.errors import RagplaneError
from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, generate_pb2, guardrail_pb2
from ragplane_orchestrator.config import Settings
from ragplane_orchestrator.downstream import Downstream, Timings
from ragplane_orchestrator.generation import AnswerGenerator, split_sentences
from ragplane_orchestrator.stream import Blocked, Delta, Generated

pytestmark = pytest.mark.unit
EMAIL = re.compile(r"[\w.]+@[\w.]+\w")
CONTEXT = [common_pb2.Chunk(chunk_id="c1", text="Lima is the capital of Peru.")]


class _Call:
    """A server stream as the stub returns it: async iteration and cancel()."""

    def __init__(self, pieces: list[str], result: bool) -> None:
        self._messages = [generate_pb2.GenerateStreamResponse(delta=p) for p in pieces]
        if result:
            self._messages.append(
                generate_pb2.GenerateStreamResponse(
                    result=generate_pb2.GenerationResult(text="".join(pieces), model="stand-in")
                )
            )
        self.cancelled = False

    def __aiter__(self):
        return self._messages_until_cancelled()

    async def _messages_until_cancelled(self):
        for message in self._messages:
            if self.cancelled:
                return
            yield message

    def cancel(self) -> None:
        self.cancelled = True


class _Generate:
    def __init__(self, pieces: list[str], result: bool = True) -> None:
        self.call = _Call(pieces, result)

    def GenerateStream(self, request):
        return self.call


class _Guardrail:
    """Redacts e-mail addresses; blocks any piece that says "forbidden"."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def CheckOutput(self, request):
        self.checked.append(request.answer)
        if "forbidden" in request.answer:
            return guardrail_pb2.CheckOutputResponse(
                verdict=common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_BLOCK)
            )
        if EMAIL.search(request.answer):
            return guardrail_pb2.CheckOutputResponse(
                verdict=common_pb2.GuardrailVerdict(
                    action=common_pb2.GUARDRAIL_ACTION_REDACT, redacted_text=EMAIL.sub("<EMAIL>", request.answer)
                )
            )
        return guardrail_pb2.CheckOutputResponse(
            verdict=common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW)
        )


def _generator(pieces: list[str], *, check_sentences: bool = True, result: bool = True):
    downstream = Downstream(load_settings(Settings, {}))
    downstream.generate = _Generate(pieces, result)
    downstream.guardrail = _Guardrail()
    return AnswerGenerator(downstream, check_sentences), downstream


async def _events(generator: AnswerGenerator, timings: Timings | None = None) -> list:
    stream = generator.stream("q", CONTEXT, [], common_pb2.SamplingParams(), timings or Timings())
    return [event async for event in stream]


def test_finished_sentences_are_split_from_the_unfinished_rest():
    assert split_sentences("One. Two! Thr") == ("One. Two! ", "Thr")
    assert split_sentences("no end yet") == ("", "no end yet")
    assert split_sentences("line\nnext") == ("line\n", "next")


async def test_sentences_are_sent_once_checked_with_pii_redacted_and_spacing_kept():
    generator, downstream = _generator(["Lima is ", "the capital. Write to ", "press@lima.example. ", "Bye"])
    timings = Timings()
    events = await _events(generator, timings)
    assert [e.text for e in events if isinstance(e, Delta)] == ["Lima is the capital. ", "Write to <EMAIL>. ", "Bye"]
    assert isinstance(events[-1], Generated) and events[-1].generation.model == "stand-in"
    assert downstream.guardrail.checked == ["Lima is the capital. ", "Write to press@lima.example. ", "Bye"]
    assert [stage for stage, _ in timings.stages] == ["generate"]


async def test_a_blocked_sentence_ends_the_stream_with_the_verdict_and_cancels_generation():
    generator, downstream = _generator(["Fine. ", "This is forbidden. ", "Never sent. "])
    events = await _events(generator)
    assert [type(e) for e in events] == [Delta, Blocked]
    assert events[-1].verdict.action == common_pb2.GUARDRAIL_ACTION_BLOCK
    assert downstream.generate.call.cancelled
    assert "Never sent. " not in downstream.guardrail.checked


async def test_without_sentence_checks_every_piece_passes_through_unchecked():
    generator, downstream = _generator(["press@", "lima.example"], check_sentences=False)
    events = await _events(generator)
    assert [e.text for e in events if isinstance(e, Delta)] == ["press@", "lima.example"]
    assert not downstream.guardrail.checked


async def test_a_stream_without_its_result_is_unavailable():
    generator, _ = _generator(["Half an answer. "], result=False)
    with pytest.raises(RagplaneError) as caught:
        await _events(generator)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
