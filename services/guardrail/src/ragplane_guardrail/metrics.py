"""Prometheus metrics of the guardrail service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from ragplane.runtime.telemetry import LATENCY_BUCKETS

VERDICTS = Counter("ragplane_guardrail_verdicts_total", "Guardrail verdicts by check and action.", ["check", "action"])
FINDINGS = Counter(
    "ragplane_guardrail_findings_total",
    "Findings the policy acted on (mark, redact or block), by check and category.",
    ["check", "category"],
)
CHECK_LATENCY = Histogram(
    "ragplane_guardrail_check_duration_seconds",
    "Latency of one guardrail check (one text).",
    ["check"],
    buckets=LATENCY_BUCKETS,
)
DETECTOR_LATENCY = Histogram(
    "ragplane_guardrail_detector_duration_seconds",
    "Latency of one detector on one text.",
    ["detector"],
    buckets=LATENCY_BUCKETS,
)
