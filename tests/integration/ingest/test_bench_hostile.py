"""``ragplane bench hostile`` end to end at tiny sizes: every parser, the chunker and every guardrail check is
measured in its own process and recorded (figures are not asserted)."""

from __future__ import annotations

import json
import os

import pytest

from ragplane.cli.main import main
from ragplane.runtime.bench import load_figures, run_isolated

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARSERS = {"text", "markdown", "html", "pdf", "docx", "chunker"}
GUARDRAIL = {"CheckInput", "ScanDocument", "CheckOutput", "view.normalised", "view.deobfuscated", "detector.rules"}


def _targets(result: dict) -> set[str]:
    return {row["label"].partition(" ")[0] for row in result["rows"]}


def test_bench_hostile_measures_every_parser_and_check_at_each_size_and_records_the_figures(tmp_path, capsys):
    figures = tmp_path / "docs" / "figures"
    arguments = ["--sizes", "1000", "2000", "--shapes", "2", "--repeat", "1", "--timeout", "60"]
    code = main(
        ["bench", "hostile", *arguments, "--out", str(tmp_path / "out"), "--json", "--record"]
        + ["--figures", str(figures)]
    )
    assert code == 0
    results = {r["variant"]: r for r in json.loads(capsys.readouterr().out.split("\nrecorded")[0])}
    assert set(results) == {"worst", "ingest", "guardrail"}
    assert _targets(results["ingest"]) == PARSERS
    assert GUARDRAIL <= _targets(results["guardrail"])
    assert {row["label"] for row in results["worst"]["rows"]} == _targets(results["ingest"]) | _targets(
        results["guardrail"]
    )
    for row in results["ingest"]["rows"] + results["guardrail"]["rows"]:
        values = row["values"]
        assert values["outcome"] not in ("timeout",) and not values["outcome"].startswith("error"), row
        assert isinstance(values["1kB_ms"], float) and isinstance(values["2kB_ms"], float), row
        assert values["time_growth"] is not None and values["2kB_peak_mb"] is not None, row
    assert {f["variant"] for f in load_figures(figures)} == {"worst", "ingest", "guardrail"}
    assert "## hostile" in (figures.parent / "FIGURES.md").read_text()


def test_a_case_that_runs_past_the_timeout_is_reported_as_timeout_not_waited_for(tmp_path, capsys):
    code = main(
        ["bench", "hostile", "--only", "ingest", "--shapes", "1", "--sizes", "1000", "2000", "--timeout", "0.01"]
        + ["--out", str(tmp_path), "--json"]
    )
    assert code == 0
    (ingest,) = [r for r in json.loads(capsys.readouterr().out) if r["variant"] == "ingest"]
    assert len(ingest["rows"]) == len(PARSERS)
    for row in ingest["rows"]:
        # A process cannot even start in 10 ms: every case times out at the first size and the next is skipped.
        assert row["values"]["outcome"] == "timeout"
        assert row["values"]["1kB_ms"] == ">10" and "2kB_ms" not in row["values"]


def test_a_case_whose_memory_trace_runs_past_the_timeout_still_reports_its_time(tmp_path, monkeypatch):
    (tmp_path / "slow_trace_case.py").write_text(
        "import time\n"
        "from ragplane.runtime.bench import report_case\n"
        "calls = []\n"
        "def call():\n"
        "    calls.append(1)\n"
        "    if len(calls) > 1:\n"
        "        time.sleep(60)  # the traced call: far past the timeout\n"
        "report_case(call, 1)\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    figure = run_isolated("slow_trace_case", [], timeout_s=10)
    assert figure["outcome"] == "ok" and figure["traced"] is False
    assert figure["wall_ms"] < 10_000
