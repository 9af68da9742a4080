"""``ragplane bench rerank`` at a tiny size: latency through the RPC, and ranking quality over hybrid candidates."""

from __future__ import annotations

import json

import pytest

from ragplane.cli.main import main
from ragplane_rerank.bench import quality

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOPICS = (
    "river delta floods",
    "castle on the hill",
    "orbit of the planet",
    "enzyme in the cell",
    "opera in vienna",
    "glacier melting",
    "treaty of the port",
    "canal to the sea",
)


def _paragraph(index: int, topic: str) -> str:
    return f"The {topic} is described here. Paragraph {index} tells the history of the {topic} in detail."


@pytest.fixture
def tiny_squad(tmp_path):
    paragraphs = [
        {
            "context": _paragraph(i, t),
            "qas": [{"id": f"q{i}", "question": f"What about the {t}?", "answers": [{"text": t, "answer_start": 4}]}],
        }
        for i, t in enumerate(TOPICS)
    ]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "Tiny", "paragraphs": paragraphs}]}))
    return path


def test_bench_rerank_times_the_rerank_rpc_per_backend_and_candidate_count(tiny_squad, tmp_path, capsys):
    code = main(
        [
            "bench",
            "rerank",
            "--dataset",
            str(tiny_squad),
            "--backend",
            "passthrough",
            "--candidates",
            "2,4",
            "--iterations",
            "3",
            "--out",
            str(tmp_path / "out"),
            "--json",
        ]
    )
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["bench"] == "rerank" and result["columns"] == ["candidates", "p50_ms", "p95_ms", "mean_ms"]
    rows = [row["values"] for row in result["rows"]]
    assert [row["candidates"] for row in rows] == [2, 4]
    assert all(row["p95_ms"] >= row["p50_ms"] > 0 for row in rows)


def test_quality_finds_each_question_s_paragraph_among_the_hybrid_candidates(tmp_path):
    texts = [_paragraph(i, t) for i, t in enumerate(TOPICS)]
    results = quality(
        texts,
        [f"What about the {t}?" for t in TOPICS],
        list(range(len(TOPICS))),
        top_k=3,
        backends=["late-interaction"],
        cache_dir=tmp_path,
    )
    assert results["rankers"]["hybrid (no rerank)"]["all"]["recall@k"] == 1.0
    assert results["late_interaction"]["best_weight_on_tune"] in (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
    assert results["late_interaction"]["held_out"]["mrr@10"] > 0.5
