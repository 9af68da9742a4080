"""The gateway's Prometheus metrics (served on RAGPLANE_METRICS_LISTEN, not on the HTTP port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from ragplane.runtime.telemetry import LATENCY_BUCKETS

HTTP_LATENCY = Histogram(
    "ragplane_http_request_duration_seconds",
    "HTTP request latency at the gateway, until the last byte of the response (streams included).",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("ragplane_http_in_flight", "HTTP requests being served by the gateway.")
HTTP_REJECTED = Counter(
    "ragplane_http_rejected_total",
    "Requests the gateway answered itself without calling a service, by reason.",
    ["reason"],
)
STREAM_FIRST_BYTE = Histogram(
    "ragplane_http_stream_first_event_seconds",
    "Time from a streamed chat completion's request to the orchestrator's first message.",
    buckets=LATENCY_BUCKETS,
)
