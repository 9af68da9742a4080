"""The rerank service on a loopback port with real models: late interaction over MiniLM, and a CrossEncoder
loaded from a local folder."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, rerank_pb2, rerank_pb2_grpc
from ragplane_rerank.app import RerankApp
from ragplane_rerank.config import Settings

pytestmark = pytest.mark.integration

METADATA = [("authorization", "Bearer dev-key")]
QUERY = "Which city is the capital of France?"
RELEVANT = "Paris is the capital and most populous city of France, on the river Seine."
DISTRACTORS = [
    "The Great Barrier Reef is the world's largest coral reef system, off the coast of Queensland.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The Amazon rainforest covers much of the Amazon basin of South America.",
    "Mount Kilimanjaro is a dormant volcano in Tanzania and the highest mountain in Africa.",
    "The violin is a wooden string instrument in the violin family.",
    "Berlin is the capital of Germany and its largest city by population.",
]


def candidates(texts: list[str]) -> list[common_pb2.ScoredChunk]:
    return [
        common_pb2.ScoredChunk(
            chunk=common_pb2.Chunk(chunk_id=f"c{i}", text=t), retrieval_rank=i + 1, retrieval_score=1.0 / (61 + i)
        )
        for i, t in enumerate(texts)
    ]


def rerank(**overrides):
    """The rerank service with these settings, served until the block ends."""
    settings = load_settings(Settings, {}, allow_dev_key=True, **overrides)
    return serve(RerankApp(settings), settings)


@pytest.fixture
async def late_interaction() -> AsyncIterator[rerank_pb2_grpc.RerankServiceStub]:
    async with rerank(backend="late-interaction") as running:
        yield running.stub(rerank_pb2_grpc.RerankServiceStub)


async def test_late_interaction_moves_the_relevant_passage_from_last_to_first(late_interaction):
    request = rerank_pb2.RerankRequest(query=QUERY, candidates=candidates([*DISTRACTORS, RELEVANT]))
    reply = await late_interaction.Rerank(request, metadata=METADATA, timeout=60)
    assert reply.model.startswith("late-interaction")
    assert len(reply.results) == 5
    assert reply.results[0].chunk.text == RELEVANT
    assert reply.results[0].retrieval_rank == len(DISTRACTORS) + 1
    scores = [r.rerank_score for r in reply.results]
    assert all(r.HasField("rerank_score") for r in reply.results)
    assert scores == sorted(scores, reverse=True)


async def test_score_threshold_and_top_n_limit_the_results(late_interaction):
    everything = await late_interaction.Rerank(
        rerank_pb2.RerankRequest(query=QUERY, candidates=candidates([*DISTRACTORS, RELEVANT]), top_n=7),
        metadata=METADATA,
        timeout=60,
    )
    assert len(everything.results) == 7
    cut = everything.results[2].rerank_score
    reply = await late_interaction.Rerank(
        rerank_pb2.RerankRequest(
            query=QUERY, candidates=candidates([*DISTRACTORS, RELEVANT]), top_n=7, score_threshold=cut
        ),
        metadata=METADATA,
        timeout=60,
    )
    assert [r.chunk.chunk_id for r in reply.results] == [r.chunk.chunk_id for r in everything.results[:3]]


async def test_too_many_candidates_and_an_empty_query_are_invalid_argument(late_interaction):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await late_interaction.Rerank(
            rerank_pb2.RerankRequest(query=QUERY, candidates=candidates(["x"] * 201)), metadata=METADATA, timeout=60
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "candidates: at most 200 allowed, but got 201"
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await late_interaction.Rerank(
            rerank_pb2.RerankRequest(query=" ", candidates=candidates(["x"])), metadata=METADATA, timeout=60
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("query:")


async def test_passthrough_keeps_the_retrieval_order_and_cuts_to_five():
    async with rerank(backend="passthrough") as running:
        stub = running.stub(rerank_pb2_grpc.RerankServiceStub)
        reply = await stub.Rerank(
            rerank_pb2.RerankRequest(query=QUERY, candidates=candidates([*DISTRACTORS, RELEVANT])),
            metadata=METADATA,
            timeout=30,
        )
    assert [r.chunk.chunk_id for r in reply.results] == ["c0", "c1", "c2", "c3", "c4"]


async def test_cross_encoder_loads_from_a_local_folder_and_scores_every_candidate(cross_encoder_dir):
    async with rerank(backend="cross-encoder", model_path=str(cross_encoder_dir)) as running:
        stub = running.stub(rerank_pb2_grpc.RerankServiceStub)
        reply = await stub.Rerank(
            rerank_pb2.RerankRequest(query=QUERY, candidates=candidates([*DISTRACTORS, RELEVANT]), top_n=7),
            metadata=METADATA,
            timeout=60,
        )
    assert reply.model == f"cross-encoder:{cross_encoder_dir.name}"
    assert sorted(r.chunk.chunk_id for r in reply.results) == [f"c{i}" for i in range(7)]
    scores = [r.rerank_score for r in reply.results]
    assert scores == sorted(scores, reverse=True)


async def test_cross_encoder_with_a_missing_folder_fails_at_start(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        async with rerank(backend="cross-encoder", model_path=str(tmp_path / "absent")):
            pass
