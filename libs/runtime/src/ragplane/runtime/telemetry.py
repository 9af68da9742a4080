"""OpenTelemetry tracing setup and the Prometheus metrics every service exports."""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from ragplane.runtime.logs import get_logger

log = get_logger("ragplane.telemetry")

_configured = False

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

RPC_LATENCY = Histogram(
    "ragplane_rpc_duration_seconds",
    "Server-side RPC latency.",
    ["service", "method", "code"],
    buckets=LATENCY_BUCKETS,
)
RPC_IN_FLIGHT = Gauge("ragplane_rpc_in_flight", "RPCs being served.", ["service"])
STAGE_LATENCY = Histogram(
    "ragplane_stage_duration_seconds",
    "Latency of one stage of a request or pipeline step.",
    ["service", "stage"],
    buckets=LATENCY_BUCKETS,
)
KAFKA_CONSUMED = Counter("ragplane_kafka_consumed_total", "Records handled.", ["topic", "group", "outcome"])
KAFKA_PRODUCED = Counter("ragplane_kafka_produced_total", "Records produced.", ["topic"])
KAFKA_DLQ = Counter("ragplane_kafka_dlq_total", "Records sent to a dead-letter topic.", ["topic", "group"])
KAFKA_LAG = Gauge("ragplane_kafka_consumer_lag", "Records behind the log end.", ["topic", "partition", "group"])


# Where an OTLP exporter sends when nothing names an endpoint it sends to localhost, fails every few seconds and
# logs each failure; so "otlp" exports only once one of these is set.
OTLP_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def span_exporter_for(exporter: str, environ: Mapping[str, str] | None = None) -> SpanExporter | None:
    """The span exporter a setting asks for, or None when traces go nowhere.

    Args:
        exporter: "none", "console" or "otlp" (OTLP/gRPC to OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT).
        environ: the environment the endpoint is read from (default: the process's).

    Returns:
        None for "none", and for "otlp" while no endpoint is set (tracing stays off rather than logging an export
        error every few seconds where no collector runs).
    """
    environ = os.environ if environ is None else environ
    if exporter == "console":
        return ConsoleSpanExporter()
    if exporter != "otlp":
        return None
    if not any(environ.get(name) for name in OTLP_ENDPOINT_VARIABLES):
        log.warning(
            "tracing off: RAGPLANE_OTEL_EXPORTER is otlp but no OTLP endpoint is set",
            variables=list(OTLP_ENDPOINT_VARIABLES),
        )
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def configure_tracing(service: str, exporter: str = "none", span_exporter: SpanExporter | None = None) -> None:
    """Install a tracer provider for ``service``.

    Args:
        service: the service name (resource attribute service.name).
        exporter: "none", "console" or "otlp" (``span_exporter_for``: otlp exports only when an endpoint is set).
        span_exporter: an explicit exporter (tests), overriding ``exporter``.
    """
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}))
    if span_exporter is None:
        span_exporter = span_exporter_for(exporter)
    if span_exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def start_metrics_server(listen: str) -> int:
    """Serve /metrics on ``host:port`` (port 0 picks a free one). Returns the bound port."""
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host)
    return server.server_port


def inject_headers() -> list[tuple[str, bytes]]:
    """W3C trace context of the current span as Kafka headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(key, value.encode()) for key, value in carrier.items()]


def extract_context(headers: list[tuple[str, bytes]] | None):
    """OpenTelemetry context from Kafka headers (traceparent/tracestate)."""
    carrier = {key: value.decode(errors="replace") for key, value in (headers or []) if value is not None}
    return propagate.extract(carrier)
