"""Domain types of the guardrail: actions, findings and verdicts, independent of protobuf."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Action(enum.IntEnum):
    """What a policy does about a finding; ordered by severity so the verdict is the maximum.

    The values match ``ragplane.v1.GuardrailAction``.
    """

    ALLOW = 1
    MARK = 2
    REDACT = 3
    BLOCK = 4

    @classmethod
    def parse(cls, raw: str) -> Action:
        """Action from its policy spelling ("allow", "mark", "redact", "block").

        Raises:
            ValueError: for any other spelling.
        """
        try:
            return cls[raw.strip().upper()]
        except KeyError:
            raise ValueError(f"must be one of allow, mark, redact, block, but got {raw!r}") from None


class Check(str, enum.Enum):
    """The three checks the service runs; also the Prometheus ``check`` label."""

    INPUT = "input"
    OUTPUT = "output"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Finding:
    """One thing a detector found.

    Attributes:
        category: e.g. "prompt_injection", "pii.email", "limit.length".
        score: confidence in [0, 1]; policies compare it with the category threshold.
        start: span start in the checked text (characters); 0 with ``end`` 0 for whole-text findings.
        end: span end, exclusive.
        detector: name of the detector that produced it.
        message: short human-readable reason, never the matched text itself.
        action: filled in by the policy decision; ALLOW until then.
    """

    category: str
    score: float
    start: int = 0
    end: int = 0
    detector: str = ""
    message: str = ""
    action: Action = Action.ALLOW

    @property
    def has_span(self) -> bool:
        return self.end > self.start

    def with_action(self, action: Action) -> Finding:
        return replace(self, action=action)


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check.

    Attributes:
        action: the most severe action among the findings (ALLOW when there are none).
        findings: the findings the policy acted on (action MARK, REDACT or BLOCK).
        redacted_text: the text with REDACT spans replaced by typed placeholders; set when action is REDACT.
        policy: name of the policy that decided.
        latency_ms: time spent on the check.
    """

    action: Action
    findings: tuple[Finding, ...] = ()
    redacted_text: str = ""
    policy: str = ""
    latency_ms: float = 0.0

    @property
    def categories(self) -> list[str]:
        return sorted({f.category for f in self.findings})


@dataclass(frozen=True)
class UnsupportedSentence:
    """An answer sentence that no context passage supports."""

    text: str
    start: int
    end: int
    support: float


@dataclass(frozen=True)
class OutputResult:
    """CheckOutput's result: the verdict plus grounding and citation details."""

    verdict: Verdict
    unsupported: tuple[UnsupportedSentence, ...] = ()
    grounding_score: float = 1.0
    invalid_citations: tuple[int, ...] = ()


@dataclass(frozen=True)
class ChunkVerdict:
    """ScanDocument's verdict for one chunk."""

    chunk_index: int
    verdict: Verdict


@dataclass(frozen=True)
class Passage:
    """A context passage given to CheckOutput (1-based ``number`` as cited in the answer)."""

    number: int
    text: str
    chunk_id: str = ""


@dataclass(frozen=True)
class CitationRef:
    """A structured citation attached to an answer."""

    passage_number: int
    chunk_id: str = ""


@dataclass(frozen=True)
class DocumentChunk:
    """A chunk given to ScanDocument."""

    index: int
    text: str
