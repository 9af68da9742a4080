"""``ragplane bench retrieve`` end to end at a small size (figures are not asserted, only produced)."""

from __future__ import annotations

import json

import pytest

from ragplane.cli.main import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_retrieve_runs_small_and_saves_json(tmp_path, capsys):
    code = main(
        [
            "bench",
            "retrieve",
            "--chunks",
            "1200",
            "--passages",
            "40",
            "--queries",
            "8",
            "--compare-local",
            "200",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    saved = json.loads(next(tmp_path.glob("retrieve-*.json")).read_text())
    [result] = saved["results"]
    assert result["columns"] == ["mode", "p50_ms", "p95_ms"] and result["rows"]
    results = result["details"]
    assert results["chunks"] == 1200 and results["queries"] > 0
    for section in ("store", "rpc"):
        assert set(results[section]) >= {"dense", "sparse", "hybrid"}
        assert all(
            results[section][m]["p95_ms"] >= results[section][m]["p50_ms"] > 0 for m in ("dense", "sparse", "hybrid")
        )
    assert 0.0 <= results["recall_at_10_hnsw_vs_exact"] <= 1.0
    assert results["rpc_under_concurrent_writer"]["points_written_meanwhile"] > 0
    assert set(results["store_choice"]) >= {"edge_unoptimized", "qdrant_client_local", "edge_optimized"}
