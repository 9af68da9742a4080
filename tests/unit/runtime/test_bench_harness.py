"""The benchmark harness: the one percentile definition, summaries, results as tables and figures records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragplane.runtime.bench import (
    FIGURE_KEYS,
    BenchResult,
    Timer,
    check_figure,
    latency_summary,
    load_figures,
    measure,
    percentile,
    render_figures,
    write_figure,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # rank 1.5: halfway between 2 and 3
        ([1, 2, 3, 4], 95, 3.85),  # rank 2.85: 3 + 0.85 * (4 - 3)
        ([10, 20, 30, 40, 50], 25, 20.0),  # rank 1.0 exactly: no interpolation
        ([5, 1, 4, 2, 3], 90, 4.6),  # unsorted input; rank 3.6
        ([7.0], 99, 7.0),  # one sample is every percentile
        ([3, 1, 2], 0, 1.0),
        ([3, 1, 2], 100, 3.0),
    ],
)
def test_percentile_interpolates_linearly_between_closest_ranks(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_is_numpys_default_linear_method():
    samples = list(np.random.default_rng(3).exponential(5.0, size=37))
    for q in (1, 50, 90, 95, 99):
        assert percentile(samples, q) == pytest.approx(float(np.percentile(samples, q)))


def test_percentile_of_nothing_or_outside_0_100_is_an_error_naming_the_value():
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)
    with pytest.raises(ValueError, match="but got 101"):
        percentile([1.0], 101)


def test_latency_summary_reports_n_percentiles_and_mean_and_none_when_empty():
    assert latency_summary([1, 2, 3, 4], quantiles=(50, 95)) == {"n": 4, "p50_ms": 2.5, "p95_ms": 3.85, "mean_ms": 2.5}
    assert latency_summary([]) == {"n": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None}


def test_timer_and_measure_time_each_call_after_untimed_warmups():
    calls = []
    samples = measure(lambda: calls.append(sum(range(1000))), iterations=3, warmup=2)
    assert len(calls) == 5 and len(samples) == 3 and all(s >= 0 for s in samples)
    with Timer() as timer:
        sum(range(10_000))
    assert timer.wall_ms > 0 and timer.cpu_ms >= 0


def _result() -> BenchResult:
    result = BenchResult(
        "rerank",
        ["candidates", "p50_ms", "p95_ms"],
        variant="late-interaction-cold",
        title="latency",
        notes="cache 0 MB",
    )
    result.add("late-interaction", {"candidates": 20, "p50_ms": 41.2, "p95_ms": 55.0})
    result.add("passthrough", {"candidates": 20, "p50_ms": 0.4})
    return result


def test_a_result_renders_as_a_table_with_the_label_first_and_blanks_for_missing_values():
    header, rows = _result().table()
    assert header == ["", "candidates", "p50_ms", "p95_ms"]
    assert rows == [["late-interaction", 20, 41.2, 55.0], ["passthrough", 20, 0.4, None]]


def test_a_row_with_a_value_outside_the_columns_is_refused():
    with pytest.raises(ValueError, match="p99_ms"):
        _result().add("x", {"p99_ms": 1.0})


def test_a_figure_has_exactly_the_figures_schema():
    figure = _result().figure(
        "ragplane bench rerank --backend late-interaction", "2 cores, 24 GiB, idle", measured_at="2026-01-02"
    )
    assert tuple(figure) == FIGURE_KEYS
    assert figure["bench"] == "rerank" and figure["variant"] == "late-interaction-cold"
    assert figure["source"] == "bench" and figure["measured_at"] == "2026-01-02"
    assert figure["rows"][0] == {
        "label": "late-interaction",
        "values": {"candidates": 20, "p50_ms": 41.2, "p95_ms": 55.0},
    }
    check_figure(figure)
    with pytest.raises(ValueError, match="source"):
        check_figure({**figure, "source": "guessed"})
    with pytest.raises(ValueError, match="keys"):
        check_figure({k: v for k, v in figure.items() if k != "notes"})


def test_figures_are_written_per_bench_and_variant_and_rendered_grouped_by_bench(tmp_path):
    write_figure(_result().figure("ragplane bench rerank", "m1", measured_at="2026-01-02"), tmp_path)
    plain = BenchResult("embed", ["chunks_per_s"])
    plain.add("batch 32", {"chunks_per_s": 120.5})
    path = write_figure(plain.figure("ragplane bench embed", "m2", measured_at="2026-01-03"), tmp_path)
    assert path.name == "embed.json" and (tmp_path / "rerank-late-interaction-cold.json").is_file()
    assert json.loads(path.read_text())["rows"] == [{"label": "batch 32", "values": {"chunks_per_s": 120.5}}]
    assert [f["bench"] for f in load_figures(tmp_path)] == ["embed", "rerank"]
    page = render_figures(tmp_path)
    assert page.index("## embed") < page.index("## rerank")
    assert "`ragplane bench rerank`" in page and "Measured 2026-01-02 on m1 (bench)." in page
    assert "| late-interaction | 20 | 41.2 | 55.0 |" in page
    assert "| passthrough | 20 | 0.4 |  |" in page
