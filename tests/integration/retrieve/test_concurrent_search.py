"""Searches on a Qdrant server run side by side: no process-wide lock serialises them.

No Qdrant server binary exists on the build machines, so the store's client is qdrant-client's local mode
behind a wrapper that behaves like a server's client: each query takes 0.3 s of "network" outside any lock
(the HTTP client is thread-safe), then runs on the engine (local mode is not thread-safe, so the wrapper
serialises that part, as a server would serialise nothing). The wrapper records how many queries were in
flight at once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import qdrant_client

from ragplane.v1 import retrieve_pb2
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = [pytest.mark.integration]
METADATA = [("authorization", "Bearer dev-key")]
LATENCY_S = 0.3


class ServerLikeClient:
    """A local-mode client that answers queries like a remote server: after a delay, concurrently."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self._engine = threading.Lock()
        self._count = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def query_points(self, *args, **kwargs):
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(LATENCY_S)
            with self._engine:
                return self._inner.query_points(*args, **kwargs)
        finally:
            with self._count:
                self.in_flight -= 1

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def serialised(*args, **kwargs):
            with self._engine:
                return attr(*args, **kwargs)

        return serialised


@pytest.fixture
def server_client(monkeypatch):
    """QdrantClient(url=...) builds a ServerLikeClient on an in-memory engine; returns the list of those built."""
    real = qdrant_client.QdrantClient
    built: list[ServerLikeClient] = []

    def build(*args, **kwargs):
        assert kwargs.get("url"), "the store must connect to a server URL"
        built.append(ServerLikeClient(real(location=":memory:")))
        return built[-1]

    monkeypatch.setattr(qdrant_client, "QdrantClient", build)
    return built


async def test_two_searches_on_a_qdrant_server_overlap(served_with_writer, make_events, server_client):
    store = QdrantServerStore(url="http://qdrant.invalid:6333", collection="overlap")
    async with served_with_writer(store=store, allow_dev_key=True) as (stub, writer):
        event = make_events.vectors("doc", 1, [0, 1, 2], 3)
        writer.handle([event])
        request = retrieve_pb2.SearchRequest(
            dense_vector=list(event.chunks[0].dense), mode=retrieve_pb2.SEARCH_MODE_DENSE, top_k=2
        )
        started = time.monotonic()
        responses = await asyncio.gather(*(stub.Search(request, metadata=METADATA) for _ in range(2)))
        elapsed = time.monotonic() - started
    [client] = server_client
    assert [r.results[0].chunk.provenance.chunk_index for r in responses] == [0, 0]
    assert client.most_in_flight == 2, f"searches ran one at a time ({elapsed:.2f} s for two)"
