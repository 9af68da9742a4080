"""A RagAutoscaler cannot send the operator's Kafka credentials elsewhere or make it fetch what it likes.

Unit: the reconciler (in-memory API) refuses specs naming brokers or hosts outside the operator's settings, with a
status condition naming the field, and never reads those signals. Integration: HTTP reads against loopback servers
follow no redirect, read no ``file:`` URL and put nothing a server wrote into the status.
"""

from __future__ import annotations

import json
import logging

import pytest
from support.operator import QuietHandler, http_server

from ragplane_autoscaler.metrics import OperatorMetrics
from ragplane_autoscaler.reconcile import Context, reconcile
from ragplane_autoscaler.settings import Settings
from ragplane_autoscaler.signals import SignalReader
from ragplane_autoscaler.spec import GROUP, PLURAL, MetricsEndpointSignal, PrometheusSignal, SignalSpec

NS = "rag"
log = logging.getLogger("test")
SECRET = "s3cr3t-internal-body"
ENV = {
    "RAGPLANE_AUTOSCALER_KAFKA_BOOTSTRAP_SERVERS": "kafka-0.kafka:9092,kafka-1.kafka:9092",
    "RAGPLANE_AUTOSCALER_SIGNAL_HOSTS": "prometheus.monitoring,triton:8002",
}


class RecordingSignals:
    """Records which signals the reconciler asked to read."""

    def __init__(self) -> None:
        self.read: list[str] = []

    async def read_all(self, signals):
        self.read.extend(s.name for s in signals)
        return ()

    def close(self) -> None:
        pass


def _kafka(servers: str) -> dict:
    body = {"bootstrapServers": servers, "consumerGroup": "g", "topic": "t", "targetLagPerReplica": 10}
    return {"name": "lag", "kafkaLag": body}


def _prometheus(url: str) -> dict:
    return {"name": "prom", "prometheus": {"serverURL": url, "query": "up", "targetValue": 1}}


def _endpoint(url: str) -> dict:
    return {"name": "page", "metricsEndpoint": {"url": url, "metric": "m", "targetValue": 1}}


async def _reconcile_one(fake_kube, fake_api, signal: dict) -> tuple[dict, RecordingSignals]:
    fake_api.put("apps", "deployments", NS, {"metadata": {"name": "embed"}, "spec": {"replicas": 1}})
    spec = {"targetRef": {"kind": "Deployment", "name": "embed"}, "maxReplicas": 4, "signals": [signal]}
    fake_api.put(GROUP, PLURAL, NS, {"metadata": {"name": "embed"}, "spec": spec})
    signals = RecordingSignals()
    settings = Settings.from_env(ENV)
    ctx = Context(kube=fake_kube, signals=signals, metrics=OperatorMetrics(), settings=settings, clock=lambda: 1e9)
    await reconcile(ctx, NS, "embed", log)
    ready = next(c for c in fake_api.obj(GROUP, PLURAL, NS, "embed")["status"]["conditions"] if c["type"] == "Ready")
    return ready, signals


@pytest.mark.unit
@pytest.mark.parametrize(
    ("signal", "field", "problem"),
    [
        (_kafka("attacker.example:9092"), "spec.signals[0].kafkaLag.bootstrapServers", "'attacker.example:9092'"),
        (_kafka("kafka-0.kafka:9092,evil:9092"), "spec.signals[0].kafkaLag.bootstrapServers", "'evil:9092'"),
        (_prometheus("file:///etc/hostname"), "spec.signals[0].prometheus.serverURL", "scheme 'file'"),
        (_prometheus("http://10.0.0.1:9090"), "spec.signals[0].prometheus.serverURL", "host '10.0.0.1'"),
        (_prometheus("http://user:pw@prometheus.monitoring"), "spec.signals[0].prometheus.serverURL", "credentials"),
        (_endpoint("http://169.254.169.254/latest/meta-data"), "spec.signals[0].metricsEndpoint.url", "169.254"),
        (_endpoint("http://triton:9999/metrics"), "spec.signals[0].metricsEndpoint.url", "host 'triton'"),
        (_endpoint("gopher://triton:8002/metrics"), "spec.signals[0].metricsEndpoint.url", "scheme 'gopher'"),
    ],
)
async def test_a_spec_naming_a_source_the_operator_does_not_allow_is_refused_naming_the_field(
    fake_kube, fake_api, signal, field, problem
):
    ready, signals = await _reconcile_one(fake_kube, fake_api, signal)
    assert (ready["status"], ready["reason"]) == ("False", "SignalSourceNotAllowed")
    assert ready["message"].startswith(field) and problem in ready["message"], ready["message"]
    assert signals.read == []  # nothing was fetched, no credentials were sent


@pytest.mark.unit
@pytest.mark.parametrize(
    "signal",
    [
        _kafka("kafka-1.kafka:9092, kafka-0.kafka:9092"),
        _prometheus("http://prometheus.monitoring:9090/"),
        _endpoint("https://triton:8002/metrics"),
    ],
)
async def test_sources_the_operator_allows_are_read(fake_kube, fake_api, signal):
    _, signals = await _reconcile_one(fake_kube, fake_api, signal)
    assert signals.read == [signal["name"]]


class _Hostile(QuietHandler):
    """Redirects /redirect to /metrics, answers /metrics with a page, anything else with an error body."""

    def do_GET(self):  # noqa: N802 (http.server API)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/metrics")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        code = 200 if self.path.startswith(("/metrics", "/garbage")) else 400
        if self.path.startswith("/metrics"):
            data = b"# TYPE m gauge\nm 5\n"
        elif self.path.startswith("/garbage"):
            data = f"{SECRET} {SECRET}\n".encode()
        else:
            data = json.dumps({"status": "error", "errorType": "bad_data", "error": SECRET, "data": SECRET}).encode()
        self.reply(code, data, "text/plain", reason=SECRET)


@pytest.fixture
def hostile():
    with http_server(_Hostile) as url:
        yield url


async def _read(source) -> tuple[float | None, str | None]:
    reading = await SignalReader(timeout_s=5).read(SignalSpec("s", source))
    return reading.value, reading.error


@pytest.mark.integration
async def test_http_signals_follow_no_redirect_read_no_files_and_reflect_no_bodies(hostile, tmp_path):
    assert await _read(MetricsEndpointSignal(f"{hostile}/metrics", "m", 1.0)) == (5.0, None)
    value, error = await _read(MetricsEndpointSignal(f"{hostile}/redirect", "m", 1.0))
    assert value is None and "HTTP 302" in error
    secret_file = tmp_path / "token"
    secret_file.write_text(f"# TYPE m gauge\nm 7\n# {SECRET}\n")
    value, error = await _read(MetricsEndpointSignal(secret_file.as_uri(), "m", 1.0))
    assert value is None and "only http and https" in error
    for source in (PrometheusSignal(hostile, "up", 1.0), MetricsEndpointSignal(f"{hostile}/garbage", "m", 1.0)):
        value, error = await _read(source)
        assert value is None and error and SECRET not in error, error
