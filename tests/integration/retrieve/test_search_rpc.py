"""The Search, ListChunks and GetIndexStats RPCs through a real server, with real MiniLM + BM25 vectors.

Two API keys map to two tenants; chunks are written with the tenant of the document (as the writer does)
and every read is scoped to the caller's key.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import struct_pb2
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, events_pb2, retrieve_pb2, retrieve_pb2_grpc
from ragplane_embed.config import Settings as EmbedSettings
from ragplane_embed.embedder import build_embedder
from ragplane_retrieve.app import RetrieveApp
from ragplane_retrieve.config import Settings
from ragplane_retrieve.payload import to_points

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS = {
    "tenant-a": [
        (
            "paris",
            "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
            1,
            {"lang": "en", "year": 1889},
        ),
        ("berlin", "The Brandenburg Gate is an 18th-century monument in Berlin.", 2, {"lang": "en", "year": 1791}),
        ("rome", "Das Kolosseum ist ein Amphitheater in Rom.", 3, {"lang": "de", "year": 80}),
        (
            "enzyme",
            "Lactase is the enzyme that breaks lactose down into glucose and galactose.",
            4,
            {"lang": "en", "year": 1950},
        ),
    ],
    "tenant-b": [
        ("secret", "The Eiffel Tower secret plans are stored in tenant b's vault.", 1, {"lang": "en", "year": 2020}),
    ],
}
A = [("authorization", "Bearer key-a")]
B = [("authorization", "Bearer key-b")]


@pytest.fixture(scope="module")
def embedder():
    embedder = build_embedder(load_settings(EmbedSettings, {}))
    embedder.start()
    return embedder


@pytest.fixture
async def server(tmp_path, embedder):
    settings = load_settings(
        Settings,
        {},
        allow_dev_key=True,
        api_keys="key-a=tenant-a,key-b=tenant-b",
        edge_path=str(tmp_path / "s"),
        writer_enabled=False,
        optimize_mode="off",
    )
    app = RetrieveApp(settings)
    async with serve(app, settings) as running:
        seed(app, embedder)
        yield running.stub(retrieve_pb2_grpc.RetrieveServiceStub)


def seed(app: RetrieveApp, embedder) -> None:
    """Index DOCS through the app's store, as the writer would."""
    for tenant, docs in DOCS.items():
        texts = [d[1] for d in docs]
        vectors = embedder.embed(texts, query=False)
        for (doc_id, text, page, meta), dense, sparse in zip(docs, vectors.dense, vectors.sparse):
            metadata = struct_pb2.Struct()
            metadata.update(meta)
            event = events_pb2.VectorsEvent(
                tenant=tenant, doc_id=doc_id, version=common_pb2.DocumentVersion(content_hash="h", sequence=1)
            )
            event.chunks.append(
                events_pb2.EmbeddedChunk(
                    chunk=common_pb2.Chunk(
                        chunk_id=str(uuid.uuid4()),
                        text=text,
                        flags=["scanned"],
                        provenance=common_pb2.Provenance(
                            doc_id=doc_id,
                            chunk_index=0,
                            page=page,
                            source=f"{doc_id}.md",
                            title=doc_id.title(),
                            section_path=["Top", doc_id],
                            char_start=0,
                            char_end=len(text),
                            metadata=metadata,
                            version=event.version,
                        ),
                    ),
                    dense=dense.tolist(),
                    sparse=common_pb2.SparseVector(indices=sparse.indices, values=sparse.values),
                )
            )
            app.store.upsert(to_points(event))


def query(embedder, text: str, **kwargs) -> retrieve_pb2.SearchRequest:
    vectors = embedder.embed([text], query=True)
    sparse = vectors.sparse[0]
    return retrieve_pb2.SearchRequest(
        dense_vector=vectors.dense[0].tolist(),
        sparse_vector=common_pb2.SparseVector(indices=sparse.indices, values=sparse.values),
        **kwargs,
    )


def docs_of(response) -> list[str]:
    return [r.chunk.provenance.doc_id for r in response.results]


async def test_each_tenant_sees_only_its_own_chunks(server, embedder):
    request = query(embedder, "Eiffel Tower in Paris")
    a = await server.Search(request, metadata=A)
    b = await server.Search(request, metadata=B)
    assert set(docs_of(a)) == {"paris", "berlin", "rome", "enzyme"}
    assert docs_of(b) == ["secret"]
    stats_b = await server.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=B)
    assert stats_b.chunk_count == 1
    listed = await server.ListChunks(retrieve_pb2.ListChunksRequest(doc_id="paris"), metadata=B)
    assert list(listed.chunks) == []


async def test_results_carry_scores_ranks_and_full_provenance(server, embedder):
    response = await server.Search(query(embedder, "Which enzyme breaks down lactose?", top_k=2), metadata=A)
    assert [r.retrieval_rank for r in response.results] == [1, 2]
    top = response.results[0]
    assert top.chunk.provenance.doc_id == "enzyme"
    assert top.retrieval_score > response.results[1].retrieval_score
    prov = top.chunk.provenance
    assert (prov.page, prov.source, prov.title, list(prov.section_path)) == (
        4,
        "enzyme.md",
        "Enzyme",
        ["Top", "enzyme"],
    )
    assert prov.version.sequence == 1 and prov.char_end == len(top.chunk.text)
    assert dict(prov.metadata) == {"lang": "en", "year": 1950}
    assert list(top.chunk.flags) == ["scanned"]
    assert not top.HasField("rerank_score")


async def test_hybrid_dense_and_sparse_modes_all_find_the_matching_passage(server, embedder):
    for mode in (retrieve_pb2.SEARCH_MODE_HYBRID, retrieve_pb2.SEARCH_MODE_DENSE, retrieve_pb2.SEARCH_MODE_SPARSE):
        response = await server.Search(query(embedder, "Brandenburg Gate Berlin", mode=mode), metadata=A)
        assert docs_of(response)[0] == "berlin", mode
    dense = await server.Search(
        query(embedder, "Brandenburg Gate Berlin", mode=retrieve_pb2.SEARCH_MODE_DENSE), metadata=A
    )
    sparse = await server.Search(
        query(embedder, "Brandenburg Gate Berlin", mode=retrieve_pb2.SEARCH_MODE_SPARSE), metadata=A
    )
    hybrid = await server.Search(query(embedder, "Brandenburg Gate Berlin", rrf_k=60), metadata=A)
    assert len(dense.results) == 4  # dense scores every chunk
    assert len(sparse.results) == 1  # only one chunk shares a term
    assert hybrid.results[0].retrieval_score == pytest.approx(2 / 60, rel=1e-3)  # rank 1 in both lists
    assert dense.results[0].retrieval_score == pytest.approx(max(r.retrieval_score for r in dense.results))


def flt(field, **kwargs) -> common_pb2.FieldFilter:
    return common_pb2.FieldFilter(field=field, **kwargs)


def val(v) -> struct_pb2.Value:
    out = struct_pb2.Value()
    if isinstance(v, str):
        out.string_value = v
    else:
        out.number_value = v
    return out


async def test_filters_equality_any_of_range_and_negate(server, embedder):
    async def docs(*filters):
        response = await server.Search(query(embedder, "famous monument", filters=list(filters)), metadata=A)
        return set(docs_of(response))

    assert await docs(flt("doc_id", equals=val("rome"))) == {"rome"}
    lv = struct_pb2.ListValue()
    lv.values.extend([val("paris.md"), val("enzyme.md")])
    assert await docs(flt("source", any_of=lv)) == {"paris", "enzyme"}
    assert await docs(flt("page", range=common_pb2.NumericRange(gte=2, lte=3))) == {"berlin", "rome"}
    assert await docs(flt("metadata.lang", equals=val("de"), negate=True)) == {"paris", "berlin", "enzyme"}
    assert await docs(flt("metadata.year", range=common_pb2.NumericRange(lt=1800))) == {"berlin", "rome"}
    assert await docs(flt("metadata.year", equals=val(1889))) == {"paris"}


@pytest.mark.parametrize(
    "request_kwargs, field",
    [
        (
            {"filters": [common_pb2.FieldFilter(field="tenant", equals=struct_pb2.Value(string_value="tenant-b"))]},
            "filters[0].field",
        ),
        ({"top_k": 500}, "top_k"),
        ({"dense_vector": [0.5] * 10}, "dense_vector"),
    ],
)
async def test_bad_requests_are_invalid_argument_naming_the_field(server, embedder, request_kwargs, field):
    request = query(embedder, "anything")
    if "dense_vector" in request_kwargs:
        del request.dense_vector[:]
    for key, value in request_kwargs.items():
        if isinstance(value, list):
            getattr(request, key).extend(value)
        else:
            setattr(request, key, value)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await server.Search(request, metadata=A)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field + ":")


async def test_sparse_mode_without_sparse_vector_is_invalid(server):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await server.Search(retrieve_pb2.SearchRequest(mode=retrieve_pb2.SEARCH_MODE_SPARSE), metadata=A)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("sparse_vector:")


async def test_list_chunks_needs_a_doc_id(server):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await server.ListChunks(retrieve_pb2.ListChunksRequest(), metadata=A)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and info.value.details().startswith("doc_id:")
