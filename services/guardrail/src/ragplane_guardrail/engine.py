"""The guardrail engine: runs the detectors a check needs, applies the tenant's policy, builds verdicts.

Pure Python and synchronous (the service runs it in a worker thread); no gRPC in here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ragplane.runtime.logs import get_logger
from ragplane_guardrail import citations as citation_check
from ragplane_guardrail import metrics
from ragplane_guardrail.detectors import Detector
from ragplane_guardrail.detectors.blocklist import Blocklist
from ragplane_guardrail.detectors.limits import LENGTH, Limits
from ragplane_guardrail.grounding import Grounding
from ragplane_guardrail.policy import CheckPolicy, Policy, PolicySet
from ragplane_guardrail.redaction import redact
from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import (
    Action,
    Check,
    ChunkVerdict,
    CitationRef,
    DocumentChunk,
    Finding,
    OutputResult,
    Passage,
    UnsupportedSentence,
    Verdict,
)

log = get_logger(__name__)

UNGROUNDED = "ungrounded"
INVALID_CITATION = "invalid_citation"


def decide(findings: Sequence[Finding], rules: CheckPolicy) -> list[Finding]:
    """The findings the policy acts on, each with its action set.

    A finding triggers its category's action when its score reaches the threshold (the detector's own
    threshold if the rule sets one); ALLOW results are dropped. REDACT on a finding without a span (a
    classifier's verdict on the whole text) cannot replace anything, so it becomes BLOCK.
    """
    acted = []
    for finding in findings:
        rule = rules.rule_for(finding.category)
        if rule.action == Action.ALLOW or finding.score < rule.threshold_for(finding.detector):
            continue
        action = rule.action
        if action == Action.REDACT and not finding.has_span:
            action = Action.BLOCK
        acted.append(finding.with_action(action))
    return acted


def build_verdict(text: str, acted: list[Finding], policy_name: str, latency_ms: float) -> Verdict:
    """Verdict from acted-on findings: the most severe action, and the redacted text when it is REDACT."""
    action = max((f.action for f in acted), default=Action.ALLOW)
    redacted = redact(text, [f for f in acted if f.action == Action.REDACT]) if action == Action.REDACT else ""
    ordered = tuple(sorted(acted, key=lambda f: (-int(f.action), f.start, f.category)))
    return Verdict(action, ordered, redacted, policy_name, round(latency_ms, 3))


@dataclass(frozen=True)
class EngineDetectors:
    """The shared detectors; blocklists and limits are built per policy by the engine.

    ``document_injection`` replaces ``injection`` for ScanDocument when given: documents are scanned in bulk
    at ingest, so the service leaves the embedding classifier out of it unless asked (see its settings).
    """

    injection: tuple[Detector, ...]
    pii: tuple[Detector, ...]
    toxicity: tuple[Detector, ...]
    document_injection: tuple[Detector, ...] | None = None


class GuardrailEngine:
    """Runs checks for a policy set.

    Args:
        policies: the validated policy set (blocklists are compiled once per policy here).
        detectors: the loaded shared detectors.
        grounding: sentence support scorer for CheckOutput.
        log_content: include the raw text in the log line of a blocked request (off: only a hash).
    """

    def __init__(
        self, policies: PolicySet, detectors: EngineDetectors, grounding: Grounding, log_content: bool = False
    ) -> None:
        self.policies = policies
        self.detectors = detectors
        self.grounding = grounding
        self.log_content = log_content
        self._blocklists = {
            name: Blocklist(p.blocklist_terms, p.blocklist_patterns) for name, p in policies.policies.items()
        }

    def policy_for(self, tenant: str) -> Policy:
        return self.policies.for_tenant(tenant)

    # --- the three checks -------------------------------------------------------------------------------

    def check_input(self, text: str, policy: Policy) -> Verdict:
        """Verdict on a user's question."""
        started = time.perf_counter()
        findings = self._detect(Check.INPUT, Text(text), policy)
        verdict = build_verdict(text, decide(findings, policy.input), policy.name, _ms(started))
        self._record(Check.INPUT, verdict, text)
        return verdict

    def check_output(
        self, answer: str, passages: list[Passage], citations: list[CitationRef], policy: Policy
    ) -> OutputResult:
        """Verdict on an answer, with grounding against ``passages`` and citation validation."""
        started = time.perf_counter()
        rules = policy.output
        findings = self._detect(Check.OUTPUT, Text(answer), policy)
        ungrounded_rule = rules.rule_for(UNGROUNDED)
        supported_at = 1.0 - ungrounded_rule.threshold
        t0 = time.perf_counter()
        supports = self.grounding.assess(answer, [p.text for p in passages], supported_at)
        metrics.DETECTOR_LATENCY.labels("grounding").observe(time.perf_counter() - t0)
        assessed = [s for s in supports if s.assessed]
        unsupported = [s for s in assessed if s.support < supported_at]
        grounding_score = 1.0 if not assessed else round(1.0 - len(unsupported) / len(assessed), 4)
        findings.extend(
            Finding(UNGROUNDED, round(1.0 - s.support, 4), s.start, s.end, "grounding", f"best support {s.support:.2f}")
            for s in unsupported
        )
        invalid = citation_check.validate(answer, passages, citations)
        findings.extend(Finding(INVALID_CITATION, 1.0, c.start, c.end, "citations", c.reason) for c in invalid)
        verdict = build_verdict(answer, decide(findings, rules), policy.name, _ms(started))
        self._record(Check.OUTPUT, verdict, answer)
        return OutputResult(
            verdict,
            tuple(UnsupportedSentence(answer[s.start : s.end], s.start, s.end, s.support) for s in unsupported),
            grounding_score,
            tuple(sorted({c.number for c in invalid})),
        )

    def scan_document(self, chunks: list[DocumentChunk], policy: Policy) -> list[ChunkVerdict]:
        """One verdict per chunk, in the given order (BLOCK means: drop the chunk)."""
        results = []
        for chunk in chunks:
            started = time.perf_counter()
            findings = self._detect(Check.DOCUMENT, Text(chunk.text), policy)
            verdict = build_verdict(chunk.text, decide(findings, policy.document), policy.name, _ms(started))
            self._record(Check.DOCUMENT, verdict, chunk.text)
            results.append(ChunkVerdict(chunk.index, verdict))
        return results

    # --- internals -----------------------------------------------------------------------------------------

    def detectors_for(self, check: Check, policy: Policy) -> list[Detector]:
        """The detectors a check runs for a policy, cheapest first; those whose categories are all allowed
        are left out."""
        rules = policy.check(check)
        injection = self.detectors.injection
        if check == Check.DOCUMENT and self.detectors.document_injection is not None:
            injection = self.detectors.document_injection
        candidates: list[Detector] = [
            Limits(rules.max_chars),
            self._blocklists[policy.name],
            *injection,
            *self.detectors.pii,
            *self.detectors.toxicity,
        ]
        chosen = []
        for detector in candidates:
            if isinstance(detector, Blocklist) and detector.empty:
                continue
            if rules.allows_all(detector.categories):
                continue
            chosen.append(detector)
        return chosen

    def _detect(self, check: Check, text: Text, policy: Policy) -> list[Finding]:
        rules = policy.check(check)
        length = Limits(rules.max_chars).too_long(text)
        if length is not None and rules.rule_for(LENGTH).action == Action.BLOCK:
            # Over the limit and blocked anyway: do not spend time analysing a text nobody will use.
            return [length]
        findings: list[Finding] = []
        for detector in self.detectors_for(check, policy):
            t0 = time.perf_counter()
            findings.extend(detector.detect(text))
            metrics.DETECTOR_LATENCY.labels(detector.name).observe(time.perf_counter() - t0)
        return findings

    def _record(self, check: Check, verdict: Verdict, text: str) -> None:
        metrics.VERDICTS.labels(check.value, verdict.action.name.lower()).inc()
        metrics.CHECK_LATENCY.labels(check.value).observe(verdict.latency_ms / 1000.0)
        for finding in verdict.findings:
            metrics.FINDINGS.labels(check.value, finding.category).inc()
        if verdict.action == Action.BLOCK:
            fields = {
                "check": check.value,
                "policy": verdict.policy,
                "categories": verdict.categories,
                "scores": _top_scores(verdict.findings),
                "detectors": sorted({f.detector for f in verdict.findings}),
                "text_sha256": hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                "chars": len(text),
            }
            if self.log_content:
                fields["text"] = text
            log.warning("guardrail blocked", **fields)


def _top_scores(findings: tuple[Finding, ...]) -> dict[str, float]:
    """The highest score per category, in one pass (a hostile text can produce thousands of findings)."""
    top: dict[str, float] = {}
    for finding in findings:
        top[finding.category] = max(finding.score, top.get(finding.category, finding.score))
    return top


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
