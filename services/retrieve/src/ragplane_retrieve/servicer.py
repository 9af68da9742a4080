"""gRPC servicer of the retrieve service: proto <-> domain conversion only."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ragplane.runtime.context import current_tenant
from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import retrieve_pb2, retrieve_pb2_grpc

from ragplane_retrieve.payload import to_chunk
from ragplane_retrieve.search import build_query, run_search

if TYPE_CHECKING:
    from ragplane_retrieve.app import RetrieveApp

MAX_LIST = 1000


class RetrieveServiceServicer(retrieve_pb2_grpc.RetrieveServiceServicer):
    def __init__(self, app: "RetrieveApp") -> None:
        self.app = app

    async def Search(self, request: retrieve_pb2.SearchRequest, context) -> retrieve_pb2.SearchResponse:
        with self.app.gate.reading():  # the index writer holds back its next write call meanwhile
            tenant = current_tenant()
            store = self.app.store
            query = build_query(request, tenant, store.dimensions, self.app.search_defaults)

            def search() -> retrieve_pb2.SearchResponse:
                # The version is read before the search: a change landing in between shows up as a newer
                # version on the next call rather than being reported for results that predate it.
                version = store.tenant_states([tenant])[tenant].index_version
                return retrieve_pb2.SearchResponse(results=run_search(store, query), index_version=version)

            return await asyncio.to_thread(search)

    async def ListChunks(self, request: retrieve_pb2.ListChunksRequest, context) -> retrieve_pb2.ListChunksResponse:
        tenant = current_tenant()
        if not request.doc_id:
            raise InvalidArgument("doc_id", "must not be empty")
        if request.limit > MAX_LIST:
            raise InvalidArgument("limit", f"must be at most {MAX_LIST}, but got {request.limit}")
        hits = await asyncio.to_thread(self.app.store.scroll_doc, tenant, request.doc_id, request.limit or MAX_LIST)
        return retrieve_pb2.ListChunksResponse(chunks=[to_chunk(h.id, h.payload) for h in hits])

    async def GetIndexStats(self, request: retrieve_pb2.GetIndexStatsRequest,
                            context) -> retrieve_pb2.GetIndexStatsResponse:
        tenant = current_tenant()
        store = self.app.store

        def stats() -> retrieve_pb2.GetIndexStatsResponse:
            return retrieve_pb2.GetIndexStatsResponse(
                chunk_count=store.count(tenant), document_count=store.count_documents(tenant),
                index_version=store.tenant_states([tenant])[tenant].index_version, backend=store.backend)

        return await asyncio.to_thread(stats)
