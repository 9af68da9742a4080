"""The Embed RPC through a real server with the real all-MiniLM-L6-v2 (in process)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import pytest_asyncio
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import embed_pb2, embed_pb2_grpc
from ragplane_embed.app import EmbedApp
from ragplane_embed.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
METADATA = [("authorization", "Bearer dev-key")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stub():
    settings = load_settings(Settings, {}, consumer_enabled=False, allow_dev_key=True)
    async with serve(EmbedApp(settings), settings) as running:
        yield running.stub(embed_pb2_grpc.EmbedServiceStub)


pytestmark.append(pytest.mark.asyncio(loop_scope="module"))


async def test_dense_and_sparse_vectors_of_queries(stub):
    response = await stub.Embed(
        embed_pb2.EmbedRequest(
            texts=["How tall is the Eiffel Tower?", "Height of the Eiffel Tower in Paris", "Recipe for lentil soup"]
        ),
        metadata=METADATA,
    )
    assert (response.dense_model, response.dimensions) == ("sentence-transformers/all-MiniLM-L6-v2", 384)
    assert response.sparse_model.startswith("ragplane-bm25")
    dense = np.array([list(e.dense) for e in response.embeddings])
    assert dense.shape == (3, 384)
    assert np.linalg.norm(dense, axis=1) == pytest.approx([1, 1, 1], abs=1e-5)
    assert dense[0] @ dense[1] > dense[0] @ dense[2] + 0.3
    for embedding in response.embeddings:
        assert set(embedding.sparse.values) == {1.0}
        assert list(embedding.sparse.indices) == sorted(embedding.sparse.indices)


async def test_documents_get_bm25_weights_and_selection_flags_are_honoured(stub):
    text = "river river river delta"
    doc = await stub.Embed(
        embed_pb2.EmbedRequest(texts=[text], input_type=embed_pb2.EMBED_INPUT_TYPE_DOCUMENT, sparse=True),
        metadata=METADATA,
    )
    assert list(doc.embeddings[0].dense) == [] and doc.dimensions == 0
    weights = list(doc.embeddings[0].sparse.values)
    assert len(weights) == 2 and max(weights) > min(weights) > 0
    dense_only = await stub.Embed(embed_pb2.EmbedRequest(texts=[text], dense=True), metadata=METADATA)
    assert len(dense_only.embeddings[0].dense) == 384
    assert not dense_only.embeddings[0].HasField("sparse") and dense_only.sparse_model == ""


async def test_a_long_chunk_is_embedded_whole_not_truncated(stub):
    head = "The museum's collection covers ancient Egyptian sculpture and papyrus. " * 30
    tail_a = "Later chapters describe volcanic eruptions, lava flows and magma chambers. " * 15
    tail_b = "Later chapters describe medieval banking, interest rates and ledgers. " * 15
    response = await stub.Embed(
        embed_pb2.EmbedRequest(texts=[head + tail_a, head + tail_b, "volcano lava magma"], dense=True),
        metadata=METADATA,
    )
    a, b, q = (np.array(e.dense) for e in response.embeddings)
    # Truncating at 256 word pieces would drop both tails and make the two chunks identical.
    assert a @ b < 0.99
    assert q @ a > q @ b


@pytest.mark.parametrize("texts, field", [([], "texts"), (["ok", "  "], "texts[1]"), (["x"] * 257, "texts")])
async def test_bad_requests_are_invalid_argument_naming_the_field(stub, texts, field):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.Embed(embed_pb2.EmbedRequest(texts=texts), metadata=METADATA)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field + ":")
