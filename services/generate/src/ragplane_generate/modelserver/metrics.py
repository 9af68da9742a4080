"""Prometheus metrics of the model server."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ragplane.runtime.telemetry import LATENCY_BUCKETS

REQUESTS = Counter("ragplane_modelserver_requests_total", "Generations by how they ended.", ["finish_reason"])
TOKENS = Counter("ragplane_modelserver_tokens_total", "Tokens read (prompt) and generated (completion).", ["kind"])
TTFT = Histogram(
    "ragplane_modelserver_ttft_seconds",
    "Submission to first generated token, queueing included.",
    buckets=LATENCY_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "ragplane_modelserver_queue_wait_seconds", "Time a request waited for a slot.", buckets=LATENCY_BUCKETS
)
READY = Gauge("ragplane_modelserver_model_ready", "1 when the model is loaded and serving.", ["model"])
