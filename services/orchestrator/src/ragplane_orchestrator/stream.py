"""Typed events of an answer on its way to the caller.

``QueryPipeline.run`` yields ``Delta`` pieces of answer text while an answer streams and ends with one
``Final``; the generation stage yields ``Delta`` pieces too, then either ``Generated`` (the generate
service's result) or ``Blocked`` (the output guardrail stopped the answer mid-stream).
"""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.v1 import common_pb2, generate_pb2, rag_pb2


@dataclass(frozen=True)
class Delta:
    """A piece of answer text the caller may show (already checked when sentence checks are on)."""

    text: str


@dataclass(frozen=True)
class Final:
    """The whole answer with its citations, verdicts, cache outcome and timings; always the last event."""

    result: rag_pb2.AnswerResult


@dataclass(frozen=True)
class Generated:
    """The generate service's result for the whole answer (model, usage, citations)."""

    generation: generate_pb2.GenerationResult


@dataclass(frozen=True)
class Blocked:
    """The output guardrail's blocking verdict on part of a streamed answer."""

    verdict: common_pb2.GuardrailVerdict


AnswerEvent = Delta | Final
GenerationEvent = Delta | Generated | Blocked
