"""gRPC servicer of the embed service: proto <-> domain conversion only."""

from __future__ import annotations

import asyncio

from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import common_pb2, embed_pb2, embed_pb2_grpc
from ragplane_embed.config import Settings
from ragplane_embed.embedder import Embedder

MAX_TEXTS = 256


def validate_texts(texts, max_chars: int) -> None:
    """Raises InvalidArgument naming ``texts`` or ``texts[i]``."""
    if not texts:
        raise InvalidArgument("texts", "must contain at least one text")
    if len(texts) > MAX_TEXTS:
        raise InvalidArgument("texts", f"at most {MAX_TEXTS} texts per call, but got {len(texts)}")
    for i, text in enumerate(texts):
        if not text.strip():
            raise InvalidArgument(f"texts[{i}]", "must not be empty")
        if len(text) > max_chars:
            raise InvalidArgument(f"texts[{i}]", f"must be at most {max_chars} characters, but has {len(text)}")


class EmbedServiceServicer(embed_pb2_grpc.EmbedServiceServicer):
    """``ragplane.v1.EmbedService`` over an embedder (started by the app before any call arrives)."""

    def __init__(self, *, embedder: Embedder, settings: Settings) -> None:
        self.embedder = embedder
        self.settings = settings

    async def Embed(self, request: embed_pb2.EmbedRequest, context) -> embed_pb2.EmbedResponse:
        texts = list(request.texts)
        validate_texts(texts, self.settings.max_text_chars)
        want_dense = request.dense or not request.sparse
        want_sparse = request.sparse or not request.dense
        # UNSPECIFIED means a query: the RPC serves the query path; documents are embedded by the consumer.
        query = request.input_type != embed_pb2.EMBED_INPUT_TYPE_DOCUMENT
        embedder = self.embedder
        result = await asyncio.to_thread(embedder.embed, texts, query=query, dense=want_dense, sparse=want_sparse)
        response = embed_pb2.EmbedResponse(
            dense_model=embedder.dense_model if want_dense else "",
            dimensions=embedder.dimensions if want_dense else 0,
            sparse_model=embedder.sparse_model if want_sparse else "",
        )
        for i in range(len(texts)):
            item = response.embeddings.add()
            if result.dense is not None:
                item.dense.extend(result.dense[i].tolist())
            if result.sparse is not None:
                vec = result.sparse[i]
                item.sparse.CopyFrom(common_pb2.SparseVector(indices=vec.indices, values=vec.values))
        return response
