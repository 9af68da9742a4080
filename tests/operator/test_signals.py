"""Signal arithmetic and parsing (unit), and both metric sources against real HTTP servers on loopback."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from support.operator import QuietHandler, http_server

from ragplane_autoscaler.signals import (
    SignalError,
    SignalReader,
    compute_lag,
    parse_metrics_text,
    parse_query_response,
)
from ragplane_autoscaler.spec import MetricsEndpointSignal, PrometheusSignal, SignalSpec, TargetType

TRITON_PAGE = """\
# HELP nv_inference_pending_request_count Instantaneous number of pending requests awaiting execution per-model.
# TYPE nv_inference_pending_request_count gauge
nv_inference_pending_request_count{model="llm",version="1"} 12
nv_inference_pending_request_count{model="embed",version="1"} 3
nv_inference_pending_request_count{model="llm",version="2"} 5
# HELP nv_inference_queue_duration_us Cumulative inference queuing duration in microseconds.
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="llm",version="1"} 123456
"""


@pytest.mark.unit
def test_lag_is_end_minus_committed_summed_over_partitions():
    lag = compute_lag({0: 100, 1: 50, 2: 10}, {0: 60, 1: 50, 2: 4})
    assert (lag.total, lag.partitions, dict(lag.per_partition)) == (46, 3, {0: 40, 1: 0, 2: 6})


@pytest.mark.unit
def test_partitions_without_a_commit_count_from_where_the_group_would_start():
    end, begin = {0: 100, 1: 50}, {0: 20, 1: 0}
    assert compute_lag(end, {0: None, 1: -1}, begin, "earliest").total == 80 + 50
    assert compute_lag(end, {0: None, 1: -1}, begin, "latest").total == 0


@pytest.mark.unit
def test_a_commit_past_the_end_never_gives_negative_lag():
    assert compute_lag({0: 10}, {0: 12}).total == 0


@pytest.mark.unit
def test_prometheus_vector_and_scalar_answers():
    vector = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"pod": "a"}, "value": [1700000000.1, "4"]},
                {"metric": {"pod": "b"}, "value": [1700000000.1, "2.5"]},
            ],
        },
    }
    assert parse_query_response(vector, "sum") == 6.5
    assert parse_query_response(vector, "max") == 4.0
    assert parse_query_response(vector, "avg") == 3.25
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1700000000.1, "0.42"]}}
    assert parse_query_response(scalar, "sum") == 0.42


@pytest.mark.unit
def test_an_empty_prometheus_vector_means_zero():
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    assert parse_query_response(empty, "sum") == 0.0


@pytest.mark.unit
@pytest.mark.parametrize(
    "payload",
    [
        {"status": "error", "errorType": "bad_data", "error": "parse error"},
        {"status": "success", "data": {"resultType": "matrix", "result": []}},
        {"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "+Inf"]}]}},
    ],
)
def test_prometheus_failures_are_signal_errors(payload):
    with pytest.raises(SignalError):
        parse_query_response(payload, "sum")


@pytest.mark.unit
def test_scraped_metric_with_label_match_and_aggregate():
    metric = "nv_inference_pending_request_count"
    assert parse_metrics_text(TRITON_PAGE, metric, {"model": "llm"}, "sum") == 17
    assert parse_metrics_text(TRITON_PAGE, metric, {"model": "llm", "version": "2"}, "sum") == 5
    assert parse_metrics_text(TRITON_PAGE, metric, {}, "max") == 12
    assert parse_metrics_text(TRITON_PAGE, "nv_inference_queue_duration_us", {}, "sum") == 123456


@pytest.mark.unit
def test_a_missing_scraped_metric_is_a_signal_error_naming_it():
    with pytest.raises(SignalError, match='nv_gpu_utilization\\{gpu="0"\\}'):
        parse_metrics_text(TRITON_PAGE, "nv_gpu_utilization", {"gpu": "0"}, "sum")


class _FakePrometheus(QuietHandler):
    """Answers /api/v1/query the way Prometheus does, with a value per query string."""

    answers: dict[str, str] = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        url = urlparse(self.path)
        query = parse_qs(url.query).get("query", [""])[0]
        if url.path != "/api/v1/query" or query not in self.answers:
            body = {"status": "error", "errorType": "bad_data", "error": f"unknown query {query!r}"}
            code = 400
        else:
            body = {
                "status": "success",
                "data": {
                    "resultType": "vector",
                    "result": [{"metric": {}, "value": [1700000000.0, self.answers[query]]}],
                },
            }
            code = 200
        self.reply(code, json.dumps(body).encode())


@pytest.fixture
def prometheus_api():
    _FakePrometheus.answers = {"sum(triton_queue)": "7.5"}
    with http_server(_FakePrometheus) as url:
        yield url


@pytest.fixture
def metrics_page():
    registry = CollectorRegistry()
    gauge = Gauge("nv_inference_pending_request_count", "pending", ["model"], registry=registry)
    gauge.labels("llm").set(9)
    server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{server.server_port}/metrics"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
async def test_reader_reads_a_prometheus_query_and_a_scraped_endpoint(prometheus_api, metrics_page):
    reader = SignalReader(timeout_s=2)
    try:
        q, m, bad, down = await reader.read_all(
            [
                SignalSpec("q", PrometheusSignal(prometheus_api, "sum(triton_queue)", 5, TargetType.VALUE)),
                SignalSpec(
                    "m",
                    MetricsEndpointSignal(metrics_page, "nv_inference_pending_request_count", 4, (("model", "llm"),)),
                ),
                SignalSpec("bad", PrometheusSignal(prometheus_api, "nope", 5)),
                SignalSpec("down", MetricsEndpointSignal("http://127.0.0.1:9/metrics", "x", 1)),
            ]
        )
    finally:
        reader.close()
    assert (q.value, q.target, q.target_type) == (7.5, 5, TargetType.VALUE)
    assert (m.value, m.error) == (9.0, None)
    assert bad.value is None and "400" in bad.error
    assert down.value is None and down.error
