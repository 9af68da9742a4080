"""Prometheus metrics of the generate service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from ragplane.runtime.telemetry import LATENCY_BUCKETS

TTFT = Histogram(
    "ragplane_generate_ttft_seconds", "Time from the model call to the first text.", buckets=LATENCY_BUCKETS
)
TOKENS = Counter("ragplane_generate_tokens_total", "Prompt and completion tokens.", ["kind"])
TRUNCATED_PASSAGES = Counter(
    "ragplane_generate_truncated_passages_total", "Context passages left out because they did not fit the budget."
)
DROPPED_CITATIONS = Counter(
    "ragplane_generate_dropped_citations_total", "Citation numbers that pointed outside the context and were removed."
)
