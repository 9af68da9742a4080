"""``ragplane eval run`` / ``ragplane eval report`` as subprocesses against the real eval server (whose peers are
the fakes in conftest.py): files written, summary printed, gates decide the exit code."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane_eval.app import EvalApp
from ragplane_eval.config import Settings

pytestmark = pytest.mark.integration

SQUAD = str(Path(__file__).parents[2] / "unit" / "eval" / "fixtures" / "tiny_squad.json")
RAGPLANE = str(Path(sys.executable).parent / "ragplane")


@pytest.fixture
async def eval_address(fake_peers, embedding_judge, tmp_path):
    fake_peers.state.answers.update({"Which NFL team represented the AFC at Super Bowl 50?": "Denver Broncos"})
    env = {
        **fake_peers.env(),
        "RAGPLANE_EVAL_ONLINE": "false",
        "RAGPLANE_DATA_DIR": str(tmp_path / "service"),
        "RAGPLANE_EVAL_DATASET_DIRS": str(Path(SQUAD).parent),  # its files are shared datasets
    }
    settings = load_settings(Settings, env, allow_dev_key=True)
    async with serve(EvalApp(settings, judge=embedding_judge), settings, metrics=True) as running:
        yield running.address


async def _ragplane(*args: str) -> tuple[int, str, str]:
    env = dict(os.environ, COLUMNS="200", RAGPLANE_API_KEY="dev-key")
    process = await asyncio.create_subprocess_exec(
        RAGPLANE, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    return process.returncode, out.decode(), err.decode()


async def test_a_gate_that_fails_exits_1_naming_the_gate(eval_address, tmp_path):
    code, out, err = await _ragplane(
        "eval",
        "run",
        SQUAD,
        "--retrieval-only",
        "--addr",
        eval_address,
        "--out",
        str(tmp_path / "out"),
        "--gate",
        "retrieval.hybrid.hit@20>=1",
        "--gate",
        "retrieval.rerank.mrr@10>=1.01",
    )
    assert code == 1, err
    assert "1 gate(s) failed" in err and "retrieval.rerank.mrr@10>=1.01" in err
    assert "retrieval.hybrid.hit@20" in out and "passed" in out  # the summary and the gate that held
    assert (tmp_path / "out" / "report.json").exists()


async def test_a_full_run_saves_rows_report_and_plot_and_passing_gates_exit_0(eval_address, tmp_path):
    out_dir = tmp_path / "full"
    code, out, err = await _ragplane(
        "eval",
        "run",
        SQUAD,
        "--addr",
        eval_address,
        "--out",
        str(out_dir),
        "--json",
        "--gate",
        "run.questions>=4",
        "--gate",
        "answer.exact_match>=0.25",
        "--gate",
        "latency.p95_ms<=600000",
    )
    assert code == 0, err
    printed = json.loads(out)
    assert all(gate["passed"] for gate in printed["gates"]) and len(printed["gates"]) == 3
    report = json.loads((out_dir / "report.json").read_text())
    assert report["metrics"] == printed["report"]["metrics"]
    assert report["metrics"]["answer.exact_match"] == pytest.approx(0.25)  # one of four answered exactly
    rows = [json.loads(line) for line in (out_dir / "rows.jsonl").read_text().splitlines()]
    assert sorted(r["question_id"] for r in rows) == ["q1", "q2", "q3", "q4"]
    assert (out_dir / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, err = await _ragplane("eval", "report", report["run_id"], "--addr", eval_address, "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"] == report["metrics"]


async def test_an_unknown_gate_metric_is_refused_before_any_call_with_the_valid_names():
    code, _, err = await _ragplane("eval", "run", SQUAD, "--addr", "127.0.0.1:1", "--gate", "answer.f2>=0.5")
    assert code == 1
    assert "unknown metric 'answer.f2'" in err and "answer.f1" in err
