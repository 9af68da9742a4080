"""gRPC servicer of the retrieve service: proto <-> domain conversion only."""

from __future__ import annotations

import asyncio

from ragplane.runtime.context import current_tenant
from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import retrieve_pb2, retrieve_pb2_grpc
from ragplane_retrieve.gate import ReadPriorityGate
from ragplane_retrieve.listing import MAX_PAGE, list_chunks
from ragplane_retrieve.payload import to_chunk
from ragplane_retrieve.search import SearchDefaults, build_query, run_search
from ragplane_retrieve.store.base import VectorStore


class RetrieveServiceServicer(retrieve_pb2_grpc.RetrieveServiceServicer):
    """``ragplane.v1.RetrieveService`` over the vector store (opened by the app before any call arrives)."""

    def __init__(self, *, store: VectorStore, gate: ReadPriorityGate, search_defaults: SearchDefaults) -> None:
        self.store = store
        self.gate = gate
        self.search_defaults = search_defaults

    async def Search(self, request: retrieve_pb2.SearchRequest, context) -> retrieve_pb2.SearchResponse:
        with self.gate.reading():  # the index writer holds back its next write call meanwhile
            tenant = current_tenant()
            store = self.store
            query = build_query(request, tenant, store.dimensions, self.search_defaults)

            def search() -> retrieve_pb2.SearchResponse:
                # The version is read before the search: a change landing in between shows up as a newer
                # version on the next call rather than being reported for results that predate it.
                version = store.tenant_states([tenant])[tenant].index_version
                return retrieve_pb2.SearchResponse(results=run_search(store, query), index_version=version)

            return await asyncio.to_thread(search)

    async def ListChunks(self, request: retrieve_pb2.ListChunksRequest, context) -> retrieve_pb2.ListChunksResponse:
        tenant = current_tenant()
        if request.limit > MAX_PAGE:  # the deprecated page size, read when page_size is 0
            raise InvalidArgument("limit", f"must be at most {MAX_PAGE}, but got {request.limit}")
        page = await asyncio.to_thread(
            list_chunks,
            self.store,
            tenant,
            request.doc_id,
            page_size=request.page_size or request.limit,
            page_token=request.page_token,
        )
        return retrieve_pb2.ListChunksResponse(
            chunks=[to_chunk(h.id, h.payload) for h in page.hits], next_page_token=page.next_page_token
        )

    async def GetIndexStats(
        self, request: retrieve_pb2.GetIndexStatsRequest, context
    ) -> retrieve_pb2.GetIndexStatsResponse:
        tenant = current_tenant()
        store = self.store

        def stats() -> retrieve_pb2.GetIndexStatsResponse:
            return retrieve_pb2.GetIndexStatsResponse(
                chunk_count=store.count(tenant),
                document_count=store.count_documents(tenant),
                index_version=store.tenant_states([tenant])[tenant].index_version,
                backend=store.backend,
            )

        return await asyncio.to_thread(stats)
