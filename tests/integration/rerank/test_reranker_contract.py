"""One contract every reranking backend meets, run against each real backend.

The Triton backend runs against a v2 gRPC server standing in for Triton: it implements ModelInfer for a
cross-encoder contract (``query``/``passage`` -> ``score``) and scores by word overlap, so the client's tensors,
batching and output parsing go over the real protocol.
"""

from __future__ import annotations

import re

import grpc
import numpy as np
import pytest
import torch
from support.servers import serve_bare
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import deserialize_bytes_tensor

from ragplane.runtime.errors import Unavailable
from ragplane_rerank.rerankers import (
    Candidate,
    CrossEncoderReranker,
    LateInteractionReranker,
    PassThroughReranker,
    VectorCache,
)
from ragplane_rerank.triton_backend import TritonReranker

pytestmark = pytest.mark.integration

QUERY = "Which river flows through Paris?"
TEXTS = [
    "The Seine flows through Paris.",
    "Bananas are yellow.",
    "Rivers carry water to the sea.",
    "Paris hosts the Louvre museum.",
]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class OverlapCrossEncoder(service_pb2_grpc.GRPCInferenceServiceServicer):
    """ModelInfer for model ``reranker``: score = shared words between query and passage."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    async def ModelInfer(self, request, context):  # noqa: N802 - gRPC method name
        if request.model_name != "reranker":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Request for unknown model: '{request.model_name}'")
        tensors = {t.name: deserialize_bytes_tensor(raw) for t, raw in zip(request.inputs, request.raw_input_contents)}
        queries, passages = tensors["query"], tensors["passage"]
        self.batches.append(len(passages))
        scores = np.array(
            [[len(_words(q.decode()) & _words(p.decode()))] for q, p in zip(queries, passages)], dtype=np.float32
        )
        return service_pb2.ModelInferResponse(
            model_name=request.model_name,
            outputs=[
                service_pb2.ModelInferResponse.InferOutputTensor(
                    name="score", datatype="FP32", shape=list(scores.shape)
                )
            ],
            raw_output_contents=[scores.tobytes()],
        )


class RerankerContract:
    """Subclasses provide ``reranker`` (warmed up)."""

    async def test_one_score_per_candidate_in_order(self, reranker):
        scores = await reranker.score(QUERY, [Candidate(t, retrieval_rank=i + 1) for i, t in enumerate(TEXTS)])
        assert len(scores) == len(TEXTS)
        assert all(isinstance(s, float) and np.isfinite(s) for s in scores)

    async def test_no_candidates_gives_no_scores(self, reranker):
        assert await reranker.score(QUERY, []) == []

    async def test_scores_do_not_depend_on_the_other_candidates(self, reranker):
        together = await reranker.score(QUERY, [Candidate(t, retrieval_rank=1) for t in TEXTS])
        alone = [(await reranker.score(QUERY, [Candidate(t, retrieval_rank=1)]))[0] for t in TEXTS]
        assert together == pytest.approx(alone, abs=1e-4)

    def test_has_a_name(self, reranker):
        assert reranker.name


class TestPassThrough(RerankerContract):
    @pytest.fixture
    def reranker(self):
        return PassThroughReranker()


@pytest.fixture(scope="module")
def late_interaction() -> LateInteractionReranker:
    backend = LateInteractionReranker()
    backend.warm_up()
    return backend


@pytest.fixture(scope="module")
def untrained_cross_encoder(cross_encoder_dir) -> CrossEncoderReranker:
    backend = CrossEncoderReranker(cross_encoder_dir)
    backend.warm_up()
    return backend


class TestLateInteraction(RerankerContract):
    @pytest.fixture
    def reranker(self, late_interaction):
        return late_interaction

    async def test_the_answering_passage_scores_highest(self, reranker):
        scores = await reranker.score(QUERY, [Candidate(t) for t in TEXTS])
        assert int(np.argmax(scores)) == 0

    async def test_long_passages_are_read_in_windows_beyond_the_encoder_limit(self, reranker):
        filler = " ".join(["Bananas are yellow fruit grown in warm places."] * 60)
        late_answer = filler + " The Seine is the river that flows through Paris."
        scores = await reranker.score(QUERY, [Candidate(filler), Candidate(late_answer)])
        assert scores[1] > scores[0]

    async def test_cached_passages_score_exactly_as_when_encoded_and_are_not_encoded_again(
        self, late_interaction, monkeypatch
    ):
        cached = LateInteractionReranker(cache_bytes=4 * 1024 * 1024)
        cached._tokenizer, cached._model = late_interaction._tokenizer, late_interaction._model
        candidates = [Candidate(t) for t in TEXTS]
        first = await cached.score(QUERY, candidates)
        assert len(cached.cache) == len(TEXTS) and cached.cache.misses == len(TEXTS)
        assert first == await late_interaction.score(QUERY, candidates)
        encoded: list[int] = []
        original = cached._encode
        monkeypatch.setattr(cached, "_encode", lambda windows: encoded.append(len(windows)) or original(windows))
        again = await cached.score("Which river runs through the French capital?", candidates)
        assert encoded == [1]  # only the query
        assert cached.cache.hits == len(TEXTS)
        assert int(np.argmax(again)) == 0

    async def test_the_cache_stays_within_its_byte_bound_dropping_the_least_recently_used(self, late_interaction):
        cached = LateInteractionReranker(cache_bytes=1)
        cached._tokenizer, cached._model = late_interaction._tokenizer, late_interaction._model
        await cached.score(QUERY, [Candidate(t) for t in TEXTS])
        assert len(cached.cache) == 0  # nothing fits in one byte
        one = cached._encode(cached._windows(TEXTS[0]))[0].to(torch.float16)
        size = one.element_size() * one.nelement()
        cached.cache = VectorCache(2 * size + size // 2)
        for text in (TEXTS[0], TEXTS[0] + " a", TEXTS[0] + " b"):
            cached.cache.put(text, one)
        assert len(cached.cache) == 2 and cached.cache.bytes <= cached.cache.max_bytes
        assert cached.cache.get(TEXTS[0]) is None and cached.cache.get(TEXTS[0] + " b") is not None


class TestCrossEncoderFromLocalFolder(RerankerContract):
    @pytest.fixture
    def reranker(self, untrained_cross_encoder):
        return untrained_cross_encoder


class TestTriton(RerankerContract):
    @pytest.fixture
    async def server(self):
        servicer = OverlapCrossEncoder()
        async with serve_bare((service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server, servicer)) as address:
            yield servicer, address

    @pytest.fixture
    async def reranker(self, server):
        backend = TritonReranker(server[1], "reranker", batch_size=3)
        backend.warm_up()
        yield backend
        await backend.close()

    async def test_pairs_are_scored_on_the_server_in_batches(self, reranker, server):
        scores = await reranker.score(QUERY, [Candidate(t) for t in TEXTS])
        assert scores == [3.0, 0.0, 0.0, 1.0]
        assert server[0].batches == [3, 1]

    async def test_an_unreachable_server_is_unavailable(self):
        with socketless_port() as address:
            backend = TritonReranker(address, "reranker")
            with pytest.raises(Unavailable, match="reranker model server"):
                await backend.score(QUERY, [Candidate("x")])
            await backend.close()


class socketless_port:
    """An address nothing listens on."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return f"127.0.0.1:{sock.getsockname()[1]}"

    def __exit__(self, *exc) -> None:
        return None
