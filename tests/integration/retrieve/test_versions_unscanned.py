"""A version whose chunks no document scan could check ("unscanned") is held back from searches until a
rescanned version replaces it, unless the deployment serves unscanned chunks (no guardrail at all). The index
writer's own path writes into the qdrant-edge store of a real retrieve server; reads go through its RPCs.
"""

from __future__ import annotations

import pytest

from ragplane.v1 import retrieve_pb2

pytestmark = pytest.mark.integration

TOKEN = "a-service-token-of-at-least-32-characters"
# Retrieve is an internal service: callers are services, with the service token and the end user's tenant.
A = [("authorization", f"Bearer {TOKEN}"), ("x-ragplane-tenant", "tenant-a")]


def unscanned(event):
    for embedded in event.chunks:
        embedded.chunk.flags.append("unscanned")
    return event


async def found(stub) -> list[tuple[int, str]]:
    response = await stub.Search(
        retrieve_pb2.SearchRequest(dense_vector=[1.0] * 384, mode=retrieve_pb2.SEARCH_MODE_DENSE, top_k=200),
        metadata=A,
    )
    return sorted((r.chunk.provenance.version.sequence, r.chunk.text) for r in response.results)


async def test_unscanned_chunks_are_not_found_until_a_rescan_replaces_them(served_with_writer, make_events):
    async with served_with_writer(service_token=TOKEN) as (stub, writer):
        writer.handle([make_events.vectors("clean", 1, [0], 1, tenant="tenant-a")])
        writer.handle([unscanned(make_events.vectors("doc", 1, [0, 1], 2, tenant="tenant-a"))])
        assert await found(stub) == [(1, "v1 chunk 0")]

        writer.handle([make_events.vectors("doc", 2, [0, 1], 2, tenant="tenant-a")])
        assert await found(stub) == [(1, "v1 chunk 0"), (2, "v2 chunk 0"), (2, "v2 chunk 1")]


async def test_a_deployment_without_a_guardrail_can_serve_unscanned_chunks(served_with_writer, make_events):
    async with served_with_writer(service_token=TOKEN, serve_unscanned=True) as (stub, writer):
        writer.handle([unscanned(make_events.vectors("doc", 1, [0, 1], 2, tenant="tenant-a"))])
        assert await found(stub) == [(1, "v1 chunk 0"), (1, "v1 chunk 1")]
