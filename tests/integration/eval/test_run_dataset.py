"""RunDataset and GetReport over the real eval server, against fakes of its peers (see conftest.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import eval_pb2, eval_pb2_grpc
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "unit" / "eval" / "fixtures"
SQUAD = str(FIXTURES / "tiny_squad.json")
KEYS = "key-a=tenant-a,key-b=tenant-b"
A = [("authorization", "Bearer key-a")]
B = [("authorization", "Bearer key-b")]

# What the fake orchestrator answers, and the gold answers it is scored against (tiny_squad.json).
ANSWERS = {
    "Which NFL team represented the AFC at Super Bowl 50?": "Denver Broncos [1]",  # EM 1, F1 1
    "Which NFL team represented the NFC at Super Bowl 50?": "the Panthers",  # EM 0, F1 2/3 vs "Carolina Panthers"
    "On which river does Warsaw stand?": "Vistula River",  # EM 1, F1 1
}
FAILING = "Where was Super Bowl 50 played?"  # the fake refuses: EM 0, F1 0, an error row


@pytest.fixture
async def eval_server(fake_peers, embedding_judge, tmp_path):
    fake_peers.state.answers.update(ANSWERS)
    fake_peers.state.failing_questions.add(FAILING)
    env = {
        **fake_peers.env(),
        "RAGPLANE_EVAL_ONLINE": "false",
        "RAGPLANE_DATA_DIR": str(tmp_path),
        "RAGPLANE_EVAL_CONCURRENCY": "2",
        # FIXTURES' files are shared datasets; <tmp_path>/datasets/<tenant>/ holds each tenant's own.
        "RAGPLANE_EVAL_DATASET_DIRS": f"{FIXTURES},{tmp_path / 'datasets'}",
    }
    settings = load_settings(Settings, env, api_keys=KEYS, allow_dev_key=True)
    async with serve(EvalApp(settings, judge=embedding_judge), settings, metrics=True) as running:
        yield running.stub(eval_pb2_grpc.EvalServiceStub), fake_peers.state, settings


async def _run(stub, metadata=A, **fields):
    events = []
    async for response in stub.RunDataset(
        eval_pb2.RunDatasetRequest(dataset_path=SQUAD, **fields), metadata=metadata, timeout=300
    ):
        events.append(response)
    return events


def _metrics(report) -> dict[str, float]:
    return {m.name: m.value for m in report.metrics}


async def test_a_full_run_ingests_into_its_own_tenant_asks_every_question_and_scores_them(eval_server):
    stub, state, settings = eval_server
    events = await _run(stub)
    phases = [e.progress.phase for e in events if e.WhichOneof("event") == "progress"]
    assert [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p] == ["load", "ingest", "index", "questions"]
    results = [e.result for e in events if e.WhichOneof("event") == "result"]
    assert events[-1].WhichOneof("event") == "report"
    report = events[-1].report
    metrics = _metrics(report)

    assert report.questions == 4 and len(results) == 4 and not report.retrieval_only
    assert metrics["answer.exact_match"] == pytest.approx(0.5)
    assert metrics["answer.f1"] == pytest.approx((1 + 2 / 3 + 0 + 1) / 4)
    assert metrics["answer.error_rate"] == pytest.approx(0.25) and metrics["run.errors"] == 1
    assert metrics["run.documents"] == 3 and metrics["run.failed_documents"] == 0
    for mode in ("dense", "sparse", "hybrid", "rerank"):
        assert metrics[f"retrieval.{mode}.hit@20"] == 1.0  # three passages: the relevant one is always there
        assert 0.0 < metrics[f"retrieval.{mode}.mrr@10"] <= 1.0
    for name in ("judge.faithfulness", "judge.answer_relevance", "judge.context_relevance", "latency.p50_ms"):
        assert 0.0 <= metrics[name] <= (1.0 if name.startswith("judge.") else 1e6), name
    assert report.judge == "embedding:all-minilm-l6-v2"

    # Every downstream call ran in the run's own tenant, never in the caller's.
    assert report.tenant.startswith("eval-")
    assert all(tenants == {report.tenant} for tenants in state.tenants.values()), state.tenants
    assert set(state.tenants) == {"ingest", "embed", "retrieve", "rerank", "orchestrator"}
    assert sorted(state.documents[report.tenant]) == ["Super_Bowl_50/0", "Super_Bowl_50/1", "Warsaw/0"]
    # One request id per question, carried to the orchestrator.
    asked_ids = {request_id for _, request_id, _ in state.asks}
    assert len(asked_ids) == 4 and asked_ids == {r.request_id for r in results}

    failed = next(r for r in results if r.question == FAILING)
    assert failed.error_status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]  # the peer's status kept
    assert failed.error_status.message.startswith("ask: FAILED_PRECONDITION: orchestrator: the fake")
    assert failed.error == failed.error_status.message  # the deprecated field, for readers before error_status
    broncos = next(r for r in results if r.question_id == "q1")
    assert broncos.answer == "Denver Broncos [1]" and list(broncos.cited_doc_ids) == ["Super_Bowl_50/0"]
    assert not broncos.HasField("error_status")
    assert {m.name: m.value for m in broncos.metrics}["answer.exact_match"] == 1.0
    assert {r.mode for r in broncos.retrieved} == {"dense", "sparse", "hybrid", "rerank"}

    rows_file = Path(settings.reports_dir) / report.rows_path  # named relative to the reports folder
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert sorted(row["question_id"] for row in rows) == ["q1", "q2", "q3", "q4"]
    stored = await stub.GetReport(eval_pb2.GetReportRequest(run_id=report.run_id), metadata=A, timeout=10)
    assert _metrics(stored.report) == metrics


async def test_a_retrieval_only_run_never_asks_and_reports_no_answer_metrics(eval_server):
    stub, state, _ = eval_server
    events = await _run(stub, retrieval_only=True, limit=2, seed=3)
    report = events[-1].report
    metrics = _metrics(report)
    assert report.retrieval_only and report.questions == 2
    assert state.asks == []
    assert not any(name.startswith(("answer.", "judge.")) for name in metrics)
    assert "retrieval.rerank.ndcg@10" in metrics and "latency.retrieval.p50_ms" in metrics


async def test_a_rerun_on_the_same_corpus_reuses_its_tenant_and_skip_ingest_sends_nothing(eval_server):
    stub, state, _ = eval_server
    first = (await _run(stub, retrieval_only=True))[-1].report
    ingested = len(state.ingested)
    second = (await _run(stub, retrieval_only=True, skip_ingest=True))[-1].report
    assert second.tenant == first.tenant
    assert len(state.ingested) == ingested
    assert second.run_id != first.run_id


async def test_another_tenant_cannot_read_a_report(eval_server):
    stub, _, _ = eval_server
    report = (await _run(stub, retrieval_only=True, limit=1))[-1].report
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetReport(eval_pb2.GetReportRequest(run_id=report.run_id), metadata=B, timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("relative/squad.json", "no such dataset file"),
        ("/nonexistent/squad.json", "outside the dataset folders"),
        (str(FIXTURES / "tiny_corpus.jsonl"), "has no questions"),
    ],
)
async def test_unusable_datasets_are_invalid_arguments_naming_the_field(eval_server, path, problem):
    stub, _, _ = eval_server
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.RunDataset(eval_pb2.RunDatasetRequest(dataset_path=path), metadata=A, timeout=30):
            pass
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("dataset_path:") and problem in info.value.details()


async def test_a_malformed_run_id_is_an_invalid_argument(eval_server):
    stub, _, _ = eval_server
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetReport(eval_pb2.GetReportRequest(run_id="../secrets"), metadata=A, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_cancelling_a_run_stops_its_questions_and_counts_it_as_cancelled(eval_server):
    stub, state, settings = eval_server
    state.ask_delay_s = 1.0
    cancelled_before = REGISTRY.get_sample_value("ragplane_eval_runs_total", {"outcome": "cancelled"}) or 0.0
    call = stub.RunDataset(eval_pb2.RunDatasetRequest(dataset_path=SQUAD), metadata=A, timeout=300)
    async for response in call:
        if response.WhichOneof("event") == "result":
            call.cancel()
            break
    await asyncio.sleep(2.5)  # longer than one more answer would take
    assert state.answered < 4
    assert REGISTRY.get_sample_value("ragplane_eval_runs_total", {"outcome": "cancelled"}) == cancelled_before + 1
    rows = list(Path(settings.reports_dir).glob("*/rows.jsonl"))
    assert len(rows) == 1 and len(rows[0].read_text().splitlines()) < 4
    assert not list(Path(settings.reports_dir).glob("*/report.json"))


async def test_a_dataset_without_documents_runs_in_the_callers_tenant_against_its_index(eval_server, tmp_path):
    stub, state, _ = eval_server
    state.documents["tenant-a"] = {
        "paris": ("France", "Paris is the capital of France."),
        "lima": ("Peru", "Lima is the capital of Peru."),
    }
    questions = tmp_path / "datasets" / "tenant-a" / "questions.jsonl"
    questions.parent.mkdir(parents=True)
    questions.write_text(
        json.dumps({"question": "What is the capital of Peru?", "answers": ["Lima"], "relevant_doc_ids": ["lima"]})
        + "\n"
    )
    events = []
    async for response in stub.RunDataset(
        eval_pb2.RunDatasetRequest(dataset_path=str(questions), retrieval_only=True), metadata=A, timeout=60
    ):
        events.append(response)
    report = events[-1].report
    assert report.tenant == "tenant-a"
    assert state.ingested == [] and state.tenants["retrieve"] == {"tenant-a"}
    assert _metrics(report)["retrieval.hybrid.hit@1"] == 1.0 and _metrics(report)["run.documents"] == 0
