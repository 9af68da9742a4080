"""A search sees exactly one complete version of each document: while a new version is being written, after
it completes, and after it failed half-way. The index writer's own path (IndexWriter.handle) writes into the
qdrant-edge store of a real retrieve server, and the index is read back through its Search, ListChunks and
GetIndexStats RPCs.
"""

from __future__ import annotations

import pytest

from ragplane.v1 import events_pb2, retrieve_pb2
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.integration

TOKEN = "a-service-token-of-at-least-32-characters"
# Retrieve is an internal service: callers are services, with the service token and the end user's tenant.
A = [("authorization", f"Bearer {TOKEN}"), ("x-ragplane-tenant", "tenant-a")]
TENANT = "tenant-a"


@pytest.fixture(params=["qdrant-edge", "qdrant-local"])
async def served(request, served_with_writer):
    """(stub, writer) on both backends: qdrant-edge, and the Qdrant server store's code path on qdrant-client's
    local mode."""
    store = QdrantServerStore(location=":memory:") if request.param == "qdrant-local" else None
    async with served_with_writer(store, service_token=TOKEN) as pair:
        yield pair


async def searched(stub) -> list[tuple[int, int, str]]:
    """(chunk_index, sequence, text) of every chunk a search of the tenant finds, in chunk order."""
    response = await stub.Search(
        retrieve_pb2.SearchRequest(dense_vector=[1.0] * 384, mode=retrieve_pb2.SEARCH_MODE_DENSE, top_k=200),
        metadata=A,
    )
    return sorted(
        (r.chunk.provenance.chunk_index, r.chunk.provenance.version.sequence, r.chunk.text) for r in response.results
    )


async def listed(stub, doc_id: str = "doc") -> list[tuple[int, int, str]]:
    response = await stub.ListChunks(retrieve_pb2.ListChunksRequest(doc_id=doc_id), metadata=A)
    return [(c.provenance.chunk_index, c.provenance.version.sequence, c.text) for c in response.chunks]


def version(sequence: int, count: int) -> list[tuple[int, int, str]]:
    return [(i, sequence, f"v{sequence} chunk {i}") for i in range(count)]


async def test_search_sees_the_old_version_until_the_new_one_is_complete(served, make_events):
    stub, writer = served
    vectors = make_events.vectors
    writer.handle([vectors("doc", 1, [0, 1, 2], 3, tenant=TENANT)])
    assert await searched(stub) == version(1, 3)

    # Version 2 (4 chunks in two batches) is half-written: version 1 is still served, whole and alone.
    [first] = writer.handle([vectors("doc", 2, [0, 1], 4, 0, 2, tenant=TENANT)])
    assert first.outcome == events_pb2.INDEX_OUTCOME_PARTIAL
    assert await searched(stub) == version(1, 3)
    assert await listed(stub) == version(1, 3)

    [last] = writer.handle([vectors("doc", 2, [2, 3], 4, 1, 2, tenant=TENANT)])
    assert last.outcome == events_pb2.INDEX_OUTCOME_INDEXED
    assert await searched(stub) == version(2, 4)
    assert await listed(stub) == version(2, 4)
    stats = await stub.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=A)
    assert stats.chunk_count == 4


async def test_a_version_that_fails_half_way_leaves_the_previous_one_whole(served, make_events):
    stub, writer = served
    vectors = make_events.vectors
    writer.handle([vectors("doc", 1, [0, 1, 2, 3, 4], 5, tenant=TENANT)])
    # Version 2's producer failed after batches 1 and 2 of 5 were acknowledged: the rest never comes.
    writer.handle([vectors("doc", 2, [0], 5, 0, 5, tenant=TENANT), vectors("doc", 2, [1], 5, 1, 5, tenant=TENANT)])
    assert await searched(stub) == version(1, 5)
    assert await listed(stub) == version(1, 5)

    # The next version that completes replaces both: nothing of version 1 or of the failed version 2 is left.
    writer.handle([vectors("doc", 3, [0, 1], 2, tenant=TENANT)])
    assert await searched(stub) == version(3, 2)
    stats = await stub.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=A)
    assert stats.chunk_count == 2


async def test_a_first_version_is_found_only_once_complete(served, make_events):
    stub, writer = served
    vectors = make_events.vectors
    writer.handle([vectors("new", 1, [0], 2, 0, 2, tenant=TENANT)])
    assert await searched(stub) == [] and await listed(stub, "new") == []
    writer.handle([vectors("new", 1, [1], 2, 1, 2, tenant=TENANT)])
    assert await searched(stub) == version(1, 2)
