"""The raw embedder throughput function the ingest benchmark compares against, with the real model."""

from __future__ import annotations

import pytest

from ragplane_embed.bench import raw_embed_throughput

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_raw_embed_throughput_reports_chunks_per_second():
    texts = [f"Passage {i} about rivers, deltas and the sea. " * (1 + 4 * i) for i in range(12)]
    result = raw_embed_throughput(texts, batch_size=4)
    assert result["texts"] == 12 and result["batch_size"] == 4
    assert result["windows"] > 12  # the longest texts need more than one window
    assert result["chunks_per_s"] > 0 and result["backend"] == "InProcessEncoder"
    assert result["cpu_seconds"] > 0
