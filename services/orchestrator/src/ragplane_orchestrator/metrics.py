"""Prometheus metrics of the orchestrator (beyond the runtime's per-RPC and per-stage ones)."""

from prometheus_client import Counter, Histogram

from ragplane.runtime.telemetry import LATENCY_BUCKETS

CACHE_LOOKUPS = Counter("ragplane_cache_lookups_total", "Answer cache lookups.", ["tenant", "outcome"])
TTFT = Histogram(
    "ragplane_ttft_seconds", "Time to first answer token seen by the caller.", ["stream"], buckets=LATENCY_BUCKETS
)
TOKENS = Counter("ragplane_tokens_total", "LLM tokens by direction.", ["tenant", "direction"])
GUARDRAIL_VERDICTS = Counter(
    "ragplane_orchestrator_guardrail_verdicts_total", "Guardrail verdicts seen.", ["check", "action"]
)
CITATIONS_DROPPED = Counter(
    "ragplane_citations_dropped_total", "Citations to passages that were not in the context (removed)."
)
ANSWERS = Counter("ragplane_answers_total", "Questions answered by outcome.", ["outcome"])
SEARCHES = Counter("ragplane_searches_total", "Search calls by outcome.", ["outcome"])
OVERHEAD = Histogram(
    "ragplane_orchestrator_overhead_seconds",
    "Time spent in the orchestrator itself: total minus downstream calls.",
    buckets=LATENCY_BUCKETS,
)
EVENTS_DROPPED = Counter(
    "ragplane_events_dropped_total",
    "Answer and feedback events dropped because too many were waiting for the broker.",
    ["topic"],
)
