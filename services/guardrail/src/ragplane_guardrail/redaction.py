"""Applying REDACT findings to a text: overlapping spans merge, each span becomes a typed placeholder."""

from __future__ import annotations

from ragplane_guardrail.verdict import Finding

PLACEHOLDERS = {
    "pii.email": "<EMAIL>",
    "pii.phone": "<PHONE>",
    "pii.credit_card": "<CREDIT_CARD>",
    "pii.iban": "<IBAN>",
    "pii.ssn": "<SSN>",
    "pii.ip_address": "<IP_ADDRESS>",
    "pii.person": "<PERSON>",
    "pii.location": "<LOCATION>",
    "pii.nrp": "<NRP>",
    "secret": "<SECRET>",
    "blocklist": "<BLOCKED>",
    "prompt_injection": "<REMOVED_INSTRUCTION>",
    "jailbreak": "<REMOVED_INSTRUCTION>",
    "ungrounded": "<UNSUPPORTED>",
}


def placeholder(category: str) -> str:
    """The typed placeholder for a category; invisible and control characters are removed outright."""
    if category.startswith("encoding."):
        return ""
    if category.startswith("toxicity."):
        return "<TOXIC>"
    return PLACEHOLDERS.get(category, f"<{category.rsplit('.', 1)[-1].upper()}>")


def redact(text: str, findings: list[Finding]) -> str:
    """``text`` with every spanned finding replaced; of overlapping findings the highest score names the span."""
    spans = sorted((f for f in findings if f.has_span), key=lambda f: (f.start, -f.end))
    merged: list[tuple[int, int, Finding]] = []
    for finding in spans:
        if merged and finding.start < merged[-1][1]:
            start, end, best = merged[-1]
            better = (
                finding if (finding.score, finding.end - finding.start) > (best.score, best.end - best.start) else best
            )
            merged[-1] = (start, max(end, finding.end), better)
        else:
            merged.append((finding.start, finding.end, finding))
    out = []
    position = 0
    for start, end, finding in merged:
        out.append(text[position:start])
        out.append(placeholder(finding.category))
        position = end
    out.append(text[position:])
    return "".join(out)
