"""``Client.run_eval`` / ``eval_stream`` / ``get_eval_report`` (sync and async) against the real eval server, whose
peers are the stand-ins of conftest.py: progress, one row per question and the report, as typed results."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.clients import FLAVORS, call
from support.servers import serve

from ragplane.client import (
    Connection,
    EvalProgress,
    EvalReport,
    InvalidArgumentError,
    NotFoundError,
    QuestionResult,
)
from ragplane.runtime.settings import load_settings
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

SQUAD = Path(__file__).parents[2] / "unit" / "eval" / "fixtures" / "tiny_squad.json"


@pytest.fixture(params=FLAVORS)
def flavor(request) -> str:
    return request.param


@pytest.fixture
async def eval_connection(fake_peers, embedding_judge, tmp_path):
    fake_peers.state.answers.update({"Which NFL team represented the AFC at Super Bowl 50?": "Denver Broncos"})
    env = {
        **fake_peers.env(),
        "RAGPLANE_EVAL_ONLINE": "false",
        "RAGPLANE_DATA_DIR": str(tmp_path / "service"),
        "RAGPLANE_EVAL_DATASET_DIRS": str(SQUAD.parent),
    }
    settings = load_settings(Settings, env, allow_dev_key=True)
    async with serve(EvalApp(settings, judge=embedding_judge), settings) as running:
        yield Connection(eval_address=running.address, api_key="dev-key", timeout=300)


async def test_a_run_streams_progress_rows_and_the_report_which_can_be_fetched_again(flavor, eval_connection):
    events = await call(flavor, eval_connection, "eval_stream", SQUAD.name)
    progress = [e for e in events if isinstance(e, EvalProgress)]
    rows = [e for e in events if isinstance(e, QuestionResult)]
    assert isinstance(events[-1], EvalReport) and {p.phase for p in progress} >= {"ingest", "questions"}
    assert sorted(r.question_id for r in rows) == ["q1", "q2", "q3", "q4"]
    answered = next(r for r in rows if r.question_id == "q1")
    assert answered.answer == "Denver Broncos" and answered.metrics["answer.exact_match"] == 1.0
    assert set(answered.retrieved) >= {"dense", "sparse", "hybrid"} and answered.error is None
    report = events[-1]
    assert report.questions == 4 and report.metrics["answer.exact_match"] == pytest.approx(0.25)
    assert report.started_at is not None and report.finished_at >= report.started_at and not report.retrieval_only

    fetched = await call(flavor, eval_connection, "get_eval_report", report.run_id)
    assert fetched == report
    with pytest.raises(NotFoundError):
        await call(flavor, eval_connection, "get_eval_report", "20250101-120000-1a2b3c4d")


async def test_run_eval_collects_the_run_and_reports_progress(flavor, eval_connection):
    seen = []
    run = await call(
        flavor, eval_connection, "run_eval", SQUAD.name, retrieval_only=True, limit=2, seed=1, progress=seen.append
    )
    assert run.report.retrieval_only and run.report.questions == 2 and len(run.rows) == 2
    assert "retrieval.hybrid.hit@20" in run.report.metrics and all(not r.answer for r in run.rows)
    assert seen and all(isinstance(p, EvalProgress) for p in seen)
    with pytest.raises(InvalidArgumentError) as refused:
        await call(flavor, eval_connection, "run_eval", "/etc/passwd")
    assert refused.value.field == "dataset_path"
