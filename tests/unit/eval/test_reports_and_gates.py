"""Report aggregation and storage, the CLI's --gate parsing, and the metric-name contract between them."""

from __future__ import annotations

import pytest

from ragplane.cli import cmd_eval
from ragplane.runtime.errors import InvalidArgument, NotFound
from ragplane_eval import reports
from ragplane_eval.reports import ReportStore, Row, aggregate

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("retrieval_only", [True, False])
def test_cli_gate_names_are_exactly_the_metrics_a_report_can_hold(retrieval_only):
    assert cmd_eval.known_metrics(retrieval_only) == reports.metric_names(retrieval_only)


def test_aggregate_means_percentiles_and_counts():
    rows = [
        Row(
            "1",
            "q",
            ["a"],
            ["d"],
            metrics={
                "retrieval.hybrid.hit@1": 1.0,
                "answer.f1": 1.0,
                "latency.ask_ms": 100.0,
                "latency.retrieval_ms": 10.0,
            },
        ),
        Row(
            "2",
            "q",
            ["a"],
            ["d"],
            metrics={
                "retrieval.hybrid.hit@1": 0.0,
                "answer.f1": 0.5,
                "latency.ask_ms": 300.0,
                "latency.retrieval_ms": 30.0,
            },
            error="ask: UNAVAILABLE: down",
        ),
    ]
    summary = aggregate(rows, retrieval_only=False, documents=7, failed_documents=1)
    assert summary["run.questions"] == 2 and summary["run.errors"] == 1
    assert summary["run.documents"] == 7 and summary["run.failed_documents"] == 1
    assert summary["retrieval.hybrid.hit@1"] == 0.5
    assert summary["answer.f1"] == 0.75
    assert summary["latency.p50_ms"] == 200.0 and summary["latency.p95_ms"] == pytest.approx(290.0)
    assert summary["latency.retrieval.p50_ms"] == 20.0
    assert "judge.faithfulness" not in summary  # nobody computed it: absent, not zero
    assert summary["answer.f1.ci95_low"] <= 0.75 <= summary["answer.f1.ci95_high"]
    assert list(summary) == [n for n in reports.metric_names(False) if n in summary]


def test_retrieval_only_reports_no_answer_metrics():
    rows = [Row("1", "q", [], ["d"], metrics={"retrieval.rerank.mrr@10": 0.5, "latency.retrieval_ms": 5.0})]
    summary = aggregate(rows, retrieval_only=True, documents=1, failed_documents=0)
    assert summary["retrieval.rerank.mrr@10"] == 0.5
    assert not any(name.startswith(("answer.", "judge.")) for name in summary)
    assert "latency.p50_ms" not in summary


def test_a_report_is_only_visible_to_the_tenant_that_ran_it(tmp_path):
    store = ReportStore(tmp_path)
    run_id = reports.new_run_id()
    store.save({"run_id": run_id, "caller_tenant": "tenant-a", "metrics": {}})
    assert store.load(run_id, "tenant-a")["run_id"] == run_id
    with pytest.raises(NotFound):
        store.load(run_id, "tenant-b")
    with pytest.raises(NotFound):
        store.load(reports.new_run_id(), "tenant-a")


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "20250101-120000-XYZ", "x" * 30])
def test_malformed_run_ids_are_refused_before_touching_the_disk(tmp_path, bad):
    with pytest.raises(InvalidArgument, match="run_id"):
        ReportStore(tmp_path).load(bad, "t")


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        ("answer.f1>=0.5", "answer.f1", ">=", 0.5),
        (" retrieval.hybrid.mrr@10 >= .62 ", "retrieval.hybrid.mrr@10", ">=", 0.62),
        ("latency.p95_ms<=5000", "latency.p95_ms", "<=", 5000.0),
        ("run.errors<=0", "run.errors", "<=", 0.0),
    ],
)
def test_gates_parse_metric_operator_and_value(text, metric, op, value):
    gate = cmd_eval.parse_gate(text)
    assert (gate.metric, gate.op, gate.threshold) == (metric, op, value)


@pytest.mark.parametrize("text", ["answer.f1>0.5", "answer.f1", ">=0.5", "answer.f1>=high", "answer.f1==1"])
def test_malformed_gates_explain_the_expected_form(text):
    with pytest.raises(cmd_eval.GateError, match="expected METRIC>=VALUE or METRIC<=VALUE"):
        cmd_eval.parse_gate(text)


def test_an_unknown_metric_lists_the_valid_names():
    with pytest.raises(cmd_eval.GateError, match="unknown metric 'answer.f2'") as info:
        cmd_eval.parse_gate("answer.f2>=0.5")
    assert "answer.f1" in str(info.value) and "retrieval.rerank.ndcg@10" in str(info.value)


def test_answer_gates_are_unknown_in_a_retrieval_only_run():
    with pytest.raises(cmd_eval.GateError, match="unknown metric 'answer.f1'"):
        cmd_eval.parse_gate("answer.f1>=0.5", cmd_eval.known_metrics(retrieval_only=True))


def test_gate_checks_pass_fail_and_missing_metrics():
    metrics = {"answer.f1": 0.61, "latency.p95_ms": 7000.0}
    assert cmd_eval.parse_gate("answer.f1>=0.6").check(metrics)[0] is True
    assert cmd_eval.parse_gate("answer.f1>=0.62").check(metrics)[0] is False
    assert cmd_eval.parse_gate("latency.p95_ms<=5000").check(metrics)[0] is False
    passed, detail = cmd_eval.parse_gate("judge.faithfulness>=0.9").check(metrics)
    assert not passed and "not in this report" in detail
