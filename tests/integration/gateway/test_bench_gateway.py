"""``ragplane bench gateway``'s measurement against a real gateway process in front of a real orchestrator."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from support.gateway import serve_edge

from ragplane.cli.bench_gateway import gateway_process, measure

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge(kafka_bootstrap, redis_url):
    async with serve_edge(kafka_bootstrap, redis_url) as running:
        yield running


async def test_pairs_are_answered_from_the_exact_cache_through_a_gateway_process(edge):
    with gateway_process(edge.orchestrator.address, edge.ingest.address) as url:
        results = await asyncio.to_thread(
            measure, edge.orchestrator.address, url, "dev-key", 40, 5, "What is the capital of France?"
        )
    # Every measured direct ask was an exact-cache answer, so both paths did the same upstream work.
    assert results["cache_outcomes"] == {"exact_hit": 40}
    assert results["direct"]["n"] == results["gateway"]["n"] == results["overhead"]["n"] == 40
    assert len(results["samples_ms"]["gateway"]) == 40
    assert results["gateway"]["p50_ms"] > 0 and results["direct"]["p50_ms"] > 0
    # The gateway's own Ask is part of its request's time, so the overhead is positive and below the whole.
    upstream, whole = results["samples_ms"]["gateway_upstream"], results["samples_ms"]["gateway"]
    assert all(0 < u < w for u, w in zip(upstream, whole, strict=True))
    assert results["overhead"]["n"] == results["paired_difference"]["n"] == 40
