"""``ragplane bench generate`` against the SmolLM2 model server at tiny sizes (figures are not asserted)."""

from __future__ import annotations

import json

import pytest

from ragplane.cli.main import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_bench_generate_reports_ttft_and_tokens_per_second_per_prompt_size(model_server, tmp_path, capsys):
    article = {
        "title": "Rivers",
        "paragraphs": [
            {
                "context": f"River {n} floods every spring and carries silt to its delta.",
                "qas": [
                    {
                        "id": f"q{n}",
                        "question": f"When does river {n} flood?",
                        "answers": [{"text": "every spring", "answer_start": 15}],
                    }
                ],
            }
            for n in range(6)
        ],
    }
    dataset = tmp_path / "rivers.json"
    dataset.write_text(json.dumps({"version": "1.1", "data": [article]}))
    code = main(
        [
            "bench",
            "generate",
            "--model",
            "smollm2-135m",
            "--addr",
            model_server.address,
            "--dataset",
            str(dataset),
            "--prompt-tokens",
            "100,300",
            "--runs",
            "2",
            "--max-tokens",
            "3",
            "--concurrency",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    assert code == 0
    sizes, concurrent = json.loads(capsys.readouterr().out)
    assert [row["label"] for row in sizes["rows"]] == ["~100 tokens", "~300 tokens"]
    for row in (r["values"] for r in sizes["rows"]):
        assert row["ttft_p95_s"] >= row["ttft_p50_s"] > 0 and row["decode_tokens_per_s"] > 0
    assert concurrent["variant"] == "concurrent" and concurrent["rows"][0]["values"]["wall_s"] > 0
