"""ListChunks pages through one document's chunks with page tokens, through a real retrieve server."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from ragplane.runtime.server import start_service
from ragplane.runtime.settings import load_settings
from ragplane.v1 import retrieve_pb2, retrieve_pb2_grpc
from ragplane_retrieve.app import RetrieveApp
from ragplane_retrieve.config import Settings
from ragplane_retrieve.model import Condition

pytestmark = pytest.mark.integration

A = [("authorization", "Bearer key-a")]


@pytest.fixture
async def served(tmp_path, make_point, make_unit):
    settings = load_settings(
        Settings,
        {},
        allow_dev_key=True,
        api_keys="key-a=tenant-a",
        edge_path=str(tmp_path / "s"),
        writer_enabled=False,
        optimize_mode="off",
    )
    app = RetrieveApp(settings)
    running = await start_service(app, settings, port=0, metrics=False)
    rng = np.random.default_rng(0)
    app.store.upsert([make_point("tenant-a", "long", i, make_unit(rng)) for i in (4, 0, 6, 2, 1, 5, 3)])
    app.store.upsert([make_point("tenant-a", "other", 0, make_unit(rng))])
    channel = grpc.aio.insecure_channel(running.address)
    yield app, retrieve_pb2_grpc.RetrieveServiceStub(channel)
    await channel.close()
    await running.stop(0)


def indexes(response: retrieve_pb2.ListChunksResponse) -> list[int]:
    return [chunk.provenance.chunk_index for chunk in response.chunks]


async def list_page(stub, **fields) -> retrieve_pb2.ListChunksResponse:
    return await stub.ListChunks(retrieve_pb2.ListChunksRequest(doc_id="long", **fields), metadata=A)


async def test_pages_cover_the_document_in_chunk_order_and_the_last_has_no_token(served):
    _, stub = served
    pages, token = [], ""
    while True:
        page = await list_page(stub, page_size=3, page_token=token)
        pages.append(indexes(page))
        token = page.next_page_token
        if not token:
            break
    assert pages == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_page_token_returns_the_same_page_each_time(served):
    _, stub = served
    first = await list_page(stub, page_size=2)
    again = [await list_page(stub, page_size=2, page_token=first.next_page_token) for _ in range(2)]
    assert indexes(again[0]) == indexes(again[1]) == [2, 3]
    assert again[0].next_page_token == again[1].next_page_token


async def test_the_next_page_starts_after_the_last_chunk_seen_even_when_earlier_chunks_go(served):
    app, stub = served
    first = await list_page(stub, page_size=3)
    app.store.delete("tenant-a", [Condition("doc_id", equals="long"), Condition("chunk_index", equals=1)])
    second = await list_page(stub, page_size=3, page_token=first.next_page_token)
    assert indexes(second) == [3, 4, 5]


async def test_the_deprecated_limit_still_sizes_a_page(served):
    _, stub = served
    page = await list_page(stub, limit=2)
    assert indexes(page) == [0, 1] and page.next_page_token
    assert indexes(await list_page(stub, limit=2, page_size=4)) == [0, 1, 2, 3]


@pytest.mark.parametrize("token", ["not a token!", "bm90IGpzb24", "WzEsIDJd"])
async def test_a_token_this_service_did_not_issue_is_invalid_argument_naming_page_token(served, token):
    _, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await list_page(stub, page_token=token)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and info.value.details().startswith("page_token:")


async def test_a_token_of_another_document_is_invalid_argument_naming_page_token(served):
    _, stub = served
    token = (await list_page(stub, page_size=1)).next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListChunks(retrieve_pb2.ListChunksRequest(doc_id="other", page_token=token), metadata=A)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("page_token: was issued for doc_id 'long'")


async def test_a_page_size_over_1000_is_invalid_argument_naming_page_size(served):
    _, stub = served
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await list_page(stub, page_size=1001)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and info.value.details().startswith("page_size:")
