"""The generate benchmark's summaries: percentiles per prompt size and TTFT growth per prompt token."""

from __future__ import annotations

import pytest

from ragplane_generate.bench import size_summary, ttft_slope_ms

pytestmark = pytest.mark.unit


def _run(ttft: float, total: float) -> dict[str, float]:
    return {
        "ttft_s": ttft,
        "total_s": total,
        "prompt_tokens": 500,
        "completion_tokens": 32,
        "decode_tokens_per_s": 10.0,
    }


def test_size_summary_uses_the_harness_percentiles():
    summary = size_summary([_run(1.0, 4.0), _run(2.0, 5.0), _run(3.0, 6.0), _run(4.0, 7.0)])
    assert summary["ttft_p50_s"] == 2.5 and summary["ttft_p95_s"] == 3.85
    assert summary["total_p95_s"] == 6.85 and summary["prompt_tokens_per_s"] == 200.0
    assert summary["decode_tokens_per_s"] == 10.0


def test_ttft_slope_is_the_least_squares_growth_per_prompt_token_in_ms():
    sizes = {
        250: {"prompt_tokens": 250, "ttft_p50_s": 0.5},
        500: {"prompt_tokens": 500, "ttft_p50_s": 1.0},
        1000: {"prompt_tokens": 1000, "ttft_p50_s": 2.0},
    }
    assert ttft_slope_ms(sizes) == 2.0
    assert ttft_slope_ms({250: sizes[250]}) is None
