"""LLM judge over the v2 (Open Inference / Triton) protocol.

The judge model is prompted by name with the generator's tensor contract: ``text_input`` (BYTES ``[1, 1]``,
the prompt rendered with the judge's chat template), ``max_tokens`` (INT32) and ``temperature`` (FP32, 0:
greedy); the reply is read from ``text_output``. The prompt asks for a strict line format:

    CLAIM 1: YES
    CLAIM 2: NO
    PASSAGE 1: YES
    RELEVANCE: 4

``parse_judgement`` reads it tolerantly (case, spacing, bullets, extra prose, yes/no synonyms) and never
guesses: a line that is missing leaves its score unset; a reply with no readable line is a ``JudgeError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragplane.runtime import errors, inference
from ragplane.runtime.citations import strip_markers
from ragplane.runtime.retry import Backoff
from ragplane.runtime.settings import CommonSettings
from ragplane_eval import text as textutil
from ragplane_eval.judge import JudgeError, JudgeScores

# Passages are cut to this many characters in the prompt; small judge models have small context windows.
MAX_PASSAGE_CHARS = 1200
MAX_PASSAGES = 5
MAX_CLAIMS = 8
# Failures worth trying again later (the online evaluator retries its batch), after this call's own retries.
TRANSIENT_ERRORS = (errors.Unavailable, errors.ResourceExhausted, errors.DeadlineExceeded)

SYSTEM_PROMPT = (
    "You are a strict evaluator of answers written by a question-answering assistant. "
    "You check claims only against the passages given, never against your own knowledge. "
    "You reply only in the exact format requested."
)


@dataclass(frozen=True)
class ChatFormat:
    """How the judge model expects a conversation to be rendered into ``text_input``."""

    name: str
    message: str
    generation_prefix: str
    prefix: str = ""
    special_tokens: tuple[str, ...] = ()

    def render(self, system: str, user: str) -> str:
        parts = [self.prefix]
        if self.message:
            parts.append(self.message.format(role="system", content=system))
            parts.append(self.message.format(role="user", content=user))
        else:
            parts.append(f"{system}\n\n{user}\n\n")
        parts.append(self.generation_prefix)
        return "".join(parts)

    def escape(self, text: str) -> str:
        """Remove control tokens from untrusted text so that a passage cannot end the user turn."""
        for token in self.special_tokens:
            text = text.replace(token, "")
        return _TOKEN_LIKE.sub("", text)


_TOKEN_LIKE = re.compile(r"<\|[A-Za-z0-9_./-]{1,40}\|>")

CHAT_FORMATS = {
    "chatml": ChatFormat(
        "chatml",
        "<|im_start|>{role}\n{content}<|im_end|>\n",
        "<|im_start|>assistant\n",
        special_tokens=("<|im_start|>", "<|im_end|>", "<|endoftext|>"),
    ),
    "llama3": ChatFormat(
        "llama3",
        "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        prefix="<|begin_of_text|>",
        special_tokens=("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    ),
    "raw": ChatFormat("raw", "", "Evaluation:\n"),
}


def judge_claims(question: str, answer: str) -> list[str]:
    """Claims phrased for an LLM: a fragment answer becomes 'The answer to "Q" is "A".'."""
    claims = textutil.claims(answer)
    if len(claims) == 1 and textutil.is_fragment(claims[0]):
        return [f'The answer to "{question}" is "{claims[0]}".']
    return claims[:MAX_CLAIMS]


def build_prompt(question: str, claims: Sequence[str], passages: Sequence[str], chat: ChatFormat) -> str:
    """The judge prompt: question, numbered passages and claims, and the reply format."""
    clean = chat.escape
    lines = [f"Question: {clean(question)}", "", "Passages:"]
    for number, passage in enumerate(passages, start=1):
        lines.append(f"[{number}] {clean(passage[:MAX_PASSAGE_CHARS])}")
    if not passages:
        lines.append("(none)")
    lines += ["", "Claims made by the answer:"]
    for number, claim in enumerate(claims, start=1):
        lines.append(f"({number}) {clean(claim)}")
    if not claims:
        lines.append("(none: the answer declines to answer)")
    lines += [
        "",
        "Tasks:",
        "- For each claim, is it supported by the passages? YES or NO.",
        "- For each passage, is it relevant to the question? YES or NO.",
        "- How well does the answer address the question, from 1 (not at all) to 5 (fully)?",
        "",
        "Reply with exactly these lines and nothing else:",
    ]
    lines += [f"CLAIM {n}: YES or NO" for n in range(1, len(claims) + 1)]
    lines += [f"PASSAGE {n}: YES or NO" for n in range(1, len(passages) + 1)]
    lines.append("RELEVANCE: a number from 1 to 5")
    return chat.render(SYSTEM_PROMPT, "\n".join(lines))


_YES = {"yes", "y", "supported", "true", "relevant", "1"}
_NO = {"no", "n", "unsupported", "not supported", "false", "irrelevant", "not relevant", "0"}
_VERDICT_LINE = re.compile(
    r"^[\s*\-#>`]*(claim|passage)\s*#?\s*\(?\[?(\d+)\]?\)?\**\s*[:=\-\u2013]+\s*\**\s*"
    r"(yes|no|y|n|supported|unsupported|not supported|true|false|relevant|irrelevant|not relevant|1|0)\b"
    # "YES or NO" echoed from the instructions is not a verdict.
    r"(?!\s*(?:or|/)\s*(?:yes|no)\b)",
    re.IGNORECASE | re.MULTILINE,
)
_RELEVANCE_LINE = re.compile(
    r"^[\s*\-#>`]*(?:answer[\s_]*)?relevance\**\s*[:=\-\u2013]+\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class Judgement:
    """What the judge said, per numbered claim and passage (first verdict per number wins)."""

    claims: dict[int, bool]
    passages: dict[int, bool]
    relevance: float | None


def parse_judgement(reply: str, n_claims: int, n_passages: int) -> Judgement:
    """Read a judge's reply; verdicts for numbers outside 1..n are ignored.

    Raises:
        JudgeError: no verdict and no relevance line could be read.
    """
    claims: dict[int, bool] = {}
    passages: dict[int, bool] = {}
    for kind, number, verdict in _VERDICT_LINE.findall(reply):
        index = int(number)
        value = verdict.lower()
        target, limit = (claims, n_claims) if kind.lower() == "claim" else (passages, n_passages)
        if 1 <= index <= limit and index not in target and (value in _YES or value in _NO):
            target[index] = value in _YES
    relevance = None
    match = _RELEVANCE_LINE.search(reply)
    if match:
        value = float(match.group(1))
        if 1.0 <= value <= 5.0:
            relevance = value
    if not claims and not passages and relevance is None:
        raise JudgeError(f"judge reply has none of the requested lines: {reply[:200]!r}")
    return Judgement(claims, passages, relevance)


def scores_from(judgement: Judgement, n_claims: int, n_passages: int, abstained: bool) -> JudgeScores:
    """Triad scores from a parsed judgement (relevance 1..5 maps linearly to 0..1)."""
    faithfulness = None
    supported = sum(judgement.claims.values())
    if n_claims and judgement.claims:
        faithfulness = supported / len(judgement.claims)
    context_relevance = None
    if n_passages and judgement.passages:
        context_relevance = sum(judgement.passages.values()) / len(judgement.passages)
    if abstained:
        answer_relevance: float | None = 0.0
    elif judgement.relevance is not None:
        answer_relevance = (judgement.relevance - 1.0) / 4.0
    else:
        answer_relevance = None
    return JudgeScores(faithfulness, answer_relevance, context_relevance, n_claims, supported)


class V2Judge:
    """An LLM judge model served over v2 gRPC (Triton, KServe); must not be the generator."""

    def __init__(
        self,
        model: str,
        address: str,
        *,
        chat_format: str = "chatml",
        max_tokens: int = 160,
        timeout_s: float = 60.0,
        retries: int = 2,
        settings: CommonSettings | None = None,
    ) -> None:
        if not model:
            raise ValueError("model must not be empty")
        if chat_format not in CHAT_FORMATS:
            raise ValueError(f"chat_format must be one of {', '.join(CHAT_FORMATS)}, but got {chat_format!r}")
        self.model = model
        self.address = address
        self.name = f"v2:{model}"
        self._chat = CHAT_FORMATS[chat_format]
        self._max_tokens = max_tokens
        self._client = inference.InferenceClient(
            address,
            model,
            subject=f"judge model {model!r} at {address}",
            timeout_s=timeout_s,
            retry=Backoff(base_s=0.2, cap_s=2.0, attempts=retries + 1),
            settings=settings,
        )

    async def warm_up(self) -> None:
        """Connect; the judge model does not have to be ready yet (the first call reports it)."""
        await self._client.start()

    async def close(self) -> None:
        await self._client.close()

    async def score(self, question: str, answer: str, contexts: Sequence[str]) -> JudgeScores:
        passages = [c for c in contexts if c.strip()][:MAX_PASSAGES]
        clean_answer = strip_markers(answer)
        abstained = not clean_answer or textutil.is_abstention(clean_answer)
        claims = [] if abstained else judge_claims(question, clean_answer)
        prompt = build_prompt(question, claims, passages, self._chat)
        reply = await self.generate(prompt)
        judgement = parse_judgement(reply, len(claims), len(passages))
        return scores_from(judgement, len(claims), len(passages), abstained)

    async def generate(self, prompt: str) -> str:
        """One greedy completion of ``prompt`` by the judge model.

        Raises:
            JudgeError: the server failed, after retries for UNAVAILABLE/RESOURCE_EXHAUSTED.
        """
        inputs = {
            "text_input": np.array([[prompt.encode("utf-8")]], dtype=np.object_),
            "max_tokens": np.array([[self._max_tokens]], dtype=np.int32),
            "temperature": np.array([[0.0]], dtype=np.float32),
        }
        try:
            result = await self._client.infer(inputs, ["text_output"], timeout_s=self._client.timeout_s)
        except errors.RagplaneError as exc:
            raise JudgeError(exc.message, retriable=isinstance(exc, TRANSIENT_ERRORS)) from None
        array = result.as_numpy("text_output")
        if array is None or array.size == 0:
            raise JudgeError(f"judge model {self.model!r} returned no text_output")
        value = array.reshape(-1)[0]
        return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
