"""``ragplane bench guardrail`` end to end on a few examples of each labelled set (figures are not asserted)."""

from __future__ import annotations

import json

import pytest

from ragplane.cli.main import main
from ragplane_guardrail import datasets

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def tiny_sets(tmp_path):
    """The first lines of every JSONL set: each check still sees positives and negatives."""
    folder = tmp_path / "sets"
    folder.mkdir()
    for path in datasets.default_directory().glob("*.jsonl"):
        lines = path.read_text().splitlines()
        (folder / path.name).write_text("\n".join(lines[:4] + lines[-4:]) + "\n")
    return folder


def test_bench_guardrail_reports_rates_and_latency_in_process_and_through_grpc(tiny_sets, tmp_path, capsys):
    code = main(["bench", "guardrail", "--datasets", str(tiny_sets), "--out", str(tmp_path / "out"), "--json"])
    assert code == 0
    results = {r["variant"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(results) == {"", "pii-recall", "detectors", "grpc"}
    checks = {row["label"] + "/" + row["values"]["set_split"] for row in results[""]["rows"]}
    assert {"input/injection/all", "input/pii", "output/grounding"} <= checks
    grpc = {row["label"]: row["values"] for row in results["grpc"]["rows"]}
    assert set(grpc) == {"input", "document", "output"}
    assert all(v["p95_ms"] >= v["p50_ms"] > 0 for v in grpc.values() if v["n"])
