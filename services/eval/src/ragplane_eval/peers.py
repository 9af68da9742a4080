"""gRPC clients of the services an offline run talks to: ingest, embed, retrieve, rerank, orchestrator.

Every call carries the service token and the tenant of the current context (``service_channel``), so a run
that sets its own tenant scopes every downstream call to it. Every call has an explicit deadline; UNAVAILABLE
and RESOURCE_EXHAUSTED are retried with jittered backoff, anything else fails the call.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import grpc
from google.protobuf import struct_pb2

from ragplane.runtime.clients import service_channel
from ragplane.runtime.errors import RETRIABLE_CODES, Internal, from_rpc_error
from ragplane.runtime.logs import get_logger
from ragplane.runtime.retry import Backoff, retry_async
from ragplane.v1 import (
    common_pb2,
    embed_pb2,
    embed_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    rag_pb2,
    rag_pb2_grpc,
    rerank_pb2,
    rerank_pb2_grpc,
    retrieve_pb2,
    retrieve_pb2_grpc,
)
from ragplane_eval.config import Settings
from ragplane_eval.datasets import Document

log = get_logger(__name__)

T = TypeVar("T")

SEARCH_MODES = {
    "dense": retrieve_pb2.SEARCH_MODE_DENSE,
    "sparse": retrieve_pb2.SEARCH_MODE_SPARSE,
    "hybrid": retrieve_pb2.SEARCH_MODE_HYBRID,
}


async def with_retries(call: Callable[[], Awaitable[T]], service: str, *, attempts: int = 4) -> T:
    """Run ``call``; retry retriable gRPC failures with jittered exponential backoff.

    Raises:
        RagplaneError: the translated failure (naming ``service``) once retries are spent or not allowed.
    """

    def retriable(exc: BaseException) -> bool:
        return isinstance(exc, grpc.RpcError) and hasattr(exc, "code") and exc.code() in RETRIABLE_CODES

    try:
        return await retry_async(
            call, Backoff(base_s=0.25, cap_s=8.0, attempts=attempts), retriable=retriable, what=f"{service} call"
        )
    except grpc.RpcError as exc:
        raise from_rpc_error(exc, service) from None


class Peers:
    """Stubs of the peer services over tenant-forwarding channels."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        token = settings.service_token
        self._channels = {
            "ingest": service_channel(settings.ingest_addr, token, settings=settings),
            "embed": service_channel(settings.embed_addr, token, settings=settings),
            "retrieve": service_channel(settings.retrieve_addr, token, settings=settings),
            "rerank": service_channel(settings.rerank_addr, token, settings=settings),
            "orchestrator": service_channel(settings.orchestrator_addr, token, settings=settings),
        }
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self._channels["ingest"])
        self.embed = embed_pb2_grpc.EmbedServiceStub(self._channels["embed"])
        self.retrieve = retrieve_pb2_grpc.RetrieveServiceStub(self._channels["retrieve"])
        self.rerank = rerank_pb2_grpc.RerankServiceStub(self._channels["rerank"])
        self.rag = rag_pb2_grpc.RagServiceStub(self._channels["orchestrator"])

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    # -- ingest --------------------------------------------------------------------------------------

    async def ingest_documents(
        self, documents: Sequence[Document], dataset: str, on_result: Callable[[ingest_pb2.DocumentResult], None]
    ) -> None:
        """Upload ``documents`` over one IngestDocuments stream; ``on_result`` sees each document's result.

        Raises:
            RagplaneError: the stream failed (per-document failures arrive as results instead).
        """

        async def requests() -> AsyncIterator[ingest_pb2.IngestDocumentsRequest]:
            for document in documents:
                content = document.text.encode("utf-8")
                metadata = struct_pb2.Struct()
                metadata.update({"dataset": dataset})
                yield ingest_pb2.IngestDocumentsRequest(
                    header=ingest_pb2.DocumentHeader(
                        doc_id=document.doc_id,
                        source=f"{dataset}:{document.doc_id}",
                        content_type="text/plain",
                        title=document.title,
                        metadata=metadata,
                        size_bytes=len(content),
                    )
                )
                yield ingest_pb2.IngestDocumentsRequest(content=content)
                yield ingest_pb2.IngestDocumentsRequest(
                    end=ingest_pb2.DocumentEnd(sha256=hashlib.sha256(content).hexdigest())
                )

        try:
            call = self.ingest.IngestDocuments(requests(), timeout=self._settings.index_timeout_s)
            async for response in call:
                on_result(response.result)
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, "ingest") from None

    async def document_states(self, wanted: Iterable[str]) -> dict[str, ingest_pb2.DocumentStatus]:
        """Status of the wanted documents of the current tenant (paging through ListDocuments)."""
        wanted = set(wanted)
        found: dict[str, ingest_pb2.DocumentStatus] = {}
        token = ""
        while True:
            request = ingest_pb2.ListDocumentsRequest(page_size=1000, page_token=token)
            reply = await with_retries(
                lambda request=request: self.ingest.ListDocuments(request, timeout=self._settings.call_timeout_s),
                "ingest",
            )
            for status in reply.documents:
                if status.doc_id in wanted:
                    found[status.doc_id] = status
            token = reply.next_page_token
            if not token or len(found) == len(wanted):
                return found

    # -- query path ----------------------------------------------------------------------------------

    async def embed_query(self, text: str) -> embed_pb2.Embedding:
        request = embed_pb2.EmbedRequest(texts=[text], input_type=embed_pb2.EMBED_INPUT_TYPE_QUERY)
        reply = await with_retries(lambda: self.embed.Embed(request, timeout=self._settings.call_timeout_s), "embed")
        if len(reply.embeddings) != 1:
            raise Internal(f"embed: expected 1 embedding, got {len(reply.embeddings)}")
        return reply.embeddings[0]

    async def search(self, embedding: embed_pb2.Embedding, mode: str, top_k: int) -> list[common_pb2.ScoredChunk]:
        request = retrieve_pb2.SearchRequest(top_k=top_k, mode=SEARCH_MODES[mode])
        if mode in ("dense", "hybrid"):
            request.dense_vector.extend(embedding.dense)
        if mode in ("sparse", "hybrid"):
            request.sparse_vector.CopyFrom(embedding.sparse)
        reply = await with_retries(
            lambda: self.retrieve.Search(request, timeout=self._settings.call_timeout_s), "retrieve"
        )
        return list(reply.results)

    async def rerank_all(
        self, query: str, candidates: Sequence[common_pb2.ScoredChunk]
    ) -> list[common_pb2.ScoredChunk]:
        """Every candidate, reordered by the reranker (top_n = all, so ranks past the context count too)."""
        if not candidates:
            return []
        request = rerank_pb2.RerankRequest(query=query, candidates=list(candidates), top_n=len(candidates))
        reply = await with_retries(lambda: self.rerank.Rerank(request, timeout=self._settings.call_timeout_s), "rerank")
        return list(reply.results)

    async def ask(self, query: str) -> rag_pb2.AnswerResult:
        """Ask the orchestrator, bypassing its answer caches and decoding greedily."""
        options = rag_pb2.AskOptions(
            top_k=self._settings.top_k,
            top_n=self._settings.top_n,
            bypass_cache=True,
            sampling=common_pb2.SamplingParams(temperature=0.0),
        )
        request = rag_pb2.AskRequest(query=query, options=options)
        reply = await with_retries(
            lambda: self.rag.Ask(request, timeout=self._settings.ask_timeout_s), "orchestrator", attempts=3
        )
        return reply.result
