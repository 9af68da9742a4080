"""Prometheus metrics of the rerank service."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

CANDIDATES = Histogram(
    "ragplane_rerank_candidates", "Candidates per Rerank request.", buckets=(1, 5, 10, 20, 50, 100, 200)
)
VECTOR_CACHE = Counter(
    "ragplane_rerank_vector_cache_total",
    "Passage token-vector cache lookups of the late-interaction backend.",
    ["outcome"],
)
