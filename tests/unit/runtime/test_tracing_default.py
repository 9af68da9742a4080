"""Tracing is on only where it goes somewhere: an OTLP exporter without an endpoint is not installed."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.runtime.telemetry import span_exporter_for

pytestmark = pytest.mark.unit


def test_the_code_default_exports_no_traces():
    settings = load_settings(CommonSettings, {})
    assert settings.otel_exporter == "none"
    assert span_exporter_for(settings.otel_exporter, {}) is None


def test_otlp_without_an_endpoint_stays_off():
    assert span_exporter_for("otlp", {}) is None
    assert span_exporter_for("otlp", {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}) is None


@pytest.mark.parametrize("variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
def test_otlp_with_an_endpoint_exports_over_otlp(variable):
    exporter = span_exporter_for("otlp", {variable: "http://collector.example:4317"})
    try:
        assert isinstance(exporter, OTLPSpanExporter)
    finally:
        exporter.shutdown()


def test_console_needs_no_endpoint():
    assert isinstance(span_exporter_for("console", {}), ConsoleSpanExporter)
