"""Fixtures for the eval service's integration tests.

``fake_peers`` runs small stand-ins of the eval service's peers (ingest, embed, retrieve, rerank, orchestrator)
as real gRPC servers on loopback, behind the real runtime (interceptor, service-token authentication, tenant
metadata). They are FAKES OF PEERS, not the real services: ingest keeps documents in memory and reports them
indexed on the second status poll; embed hashes words into vectors; retrieve ranks by those vectors (RRF for
hybrid); rerank scores word overlap; the orchestrator answers from a table the test gives it. They record the
tenant and request id of every call so tests can check that a run is scoped to its own tenant. The real
services are exercised together by the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from support.servers import ServicerApp, serve

from ragplane.runtime.context import current_request_id, current_tenant
from ragplane.runtime.errors import FailedPrecondition
from ragplane.runtime.settings import CommonSettings, load_settings
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
from ragplane_eval.judge import EmbeddingJudge

DIM = 64
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _bucket(word: str) -> int:
    return int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % DIM


def _dense(text: str) -> list[float]:
    vector = [0.0] * DIM
    for word in _words(text):
        vector[_bucket(word)] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


@dataclass
class PeerState:
    """What the fake peers hold and saw."""

    documents: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    status_polls: dict[tuple[str, str], int] = field(default_factory=dict)
    tenants: dict[str, set[str]] = field(default_factory=dict)
    ingested: list[tuple[str, str]] = field(default_factory=list)
    asks: list[tuple[str, str, str]] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    failing_questions: set[str] = field(default_factory=set)
    ask_delay_s: float = 0.0
    answered: int = 0

    def saw(self, service: str) -> str:
        tenant = current_tenant()
        self.tenants.setdefault(service, set()).add(tenant)
        return tenant


class FakeIngest(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, state: PeerState) -> None:
        self.state = state

    async def IngestDocuments(self, request_iterator, context) -> AsyncIterator[ingest_pb2.IngestDocumentsResponse]:
        tenant = self.state.saw("ingest")
        header, content = None, b""
        async for part in request_iterator:
            kind = part.WhichOneof("part")
            if kind == "header":
                header, content = part.header, b""
            elif kind == "content":
                content += part.content
            elif kind == "end":
                assert header is not None
                text = content.decode("utf-8")
                docs = self.state.documents.setdefault(tenant, {})
                unchanged = docs.get(header.doc_id) == (header.title, text)
                docs[header.doc_id] = (header.title, text)
                self.state.ingested.append((tenant, header.doc_id))
                outcome = ingest_pb2.INGEST_OUTCOME_UNCHANGED if unchanged else ingest_pb2.INGEST_OUTCOME_ACCEPTED
                yield ingest_pb2.IngestDocumentsResponse(
                    result=ingest_pb2.DocumentResult(
                        doc_id=header.doc_id, source=header.source, outcome=outcome, chunk_count=1
                    )
                )

    async def ListDocuments(self, request, context) -> ingest_pb2.ListDocumentsResponse:
        tenant = self.state.saw("ingest")
        doc_ids = sorted(self.state.documents.get(tenant, {}))
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = doc_ids[start : start + size]
        statuses = []
        for doc_id in page:
            polls = self.state.status_polls.get((tenant, doc_id), 0)
            self.state.status_polls[(tenant, doc_id)] = polls + 1
            # Indexed from the second look on, so that a run has to wait for its corpus.
            state = ingest_pb2.DOCUMENT_STATE_INDEXED if polls >= 1 else ingest_pb2.DOCUMENT_STATE_QUEUED
            statuses.append(ingest_pb2.DocumentStatus(doc_id=doc_id, state=state, chunk_count=1))
        token = str(start + size) if start + size < len(doc_ids) else ""
        return ingest_pb2.ListDocumentsResponse(documents=statuses, next_page_token=token)


class FakeEmbed(embed_pb2_grpc.EmbedServiceServicer):
    def __init__(self, state: PeerState) -> None:
        self.state = state

    async def Embed(self, request, context) -> embed_pb2.EmbedResponse:
        self.state.saw("embed")
        embeddings = []
        for text in request.texts:
            counts: dict[int, float] = {}
            for word in _words(text):
                counts[_bucket(word)] = counts.get(_bucket(word), 0.0) + 1.0
            sparse = common_pb2.SparseVector(indices=sorted(counts), values=[counts[i] for i in sorted(counts)])
            embeddings.append(embed_pb2.Embedding(dense=_dense(text), sparse=sparse))
        return embed_pb2.EmbedResponse(embeddings=embeddings, dense_model="fake", dimensions=DIM)


class FakeRetrieve(retrieve_pb2_grpc.RetrieveServiceServicer):
    def __init__(self, state: PeerState) -> None:
        self.state = state

    def _chunk(self, doc_id: str, title: str, text: str) -> common_pb2.Chunk:
        return common_pb2.Chunk(
            chunk_id=f"{doc_id}#0", text=text, provenance=common_pb2.Provenance(doc_id=doc_id, title=title)
        )

    async def Search(self, request, context) -> retrieve_pb2.SearchResponse:
        tenant = self.state.saw("retrieve")
        docs = self.state.documents.get(tenant, {})
        sparse = dict(zip(request.sparse_vector.indices, request.sparse_vector.values))

        def dense_score(text: str) -> float:
            return sum(a * b for a, b in zip(request.dense_vector, _dense(text)))

        def sparse_score(text: str) -> float:
            return sum(sparse.get(_bucket(w), 0.0) for w in set(_words(text)))

        by_dense = sorted(docs, key=lambda d: -dense_score(docs[d][1]))
        by_sparse = sorted(docs, key=lambda d: -sparse_score(docs[d][1]))
        if request.mode == retrieve_pb2.SEARCH_MODE_DENSE:
            ranked = [(d, dense_score(docs[d][1])) for d in by_dense]
        elif request.mode == retrieve_pb2.SEARCH_MODE_SPARSE:
            ranked = [(d, sparse_score(docs[d][1])) for d in by_sparse]
        else:
            fused = {d: 1 / (60 + by_dense.index(d) + 1) + 1 / (60 + by_sparse.index(d) + 1) for d in docs}
            ranked = sorted(fused.items(), key=lambda item: -item[1])
        results = [
            common_pb2.ScoredChunk(chunk=self._chunk(d, *docs[d]), retrieval_score=score, retrieval_rank=i)
            for i, (d, score) in enumerate(ranked[: request.top_k or 20], start=1)
        ]
        return retrieve_pb2.SearchResponse(results=results, index_version=len(docs))


class FakeRerank(rerank_pb2_grpc.RerankServiceServicer):
    def __init__(self, state: PeerState) -> None:
        self.state = state

    async def Rerank(self, request, context) -> rerank_pb2.RerankResponse:
        self.state.saw("rerank")
        query = set(_words(request.query))
        scored = []
        for candidate in request.candidates:
            words = set(_words(candidate.chunk.text))
            copy = common_pb2.ScoredChunk()
            copy.CopyFrom(candidate)
            copy.rerank_score = len(query & words) / (len(query | words) or 1)
            scored.append(copy)
        scored.sort(key=lambda c: -c.rerank_score)
        return rerank_pb2.RerankResponse(results=scored[: request.top_n or 5], model="fake-overlap")


class FakeOrchestrator(rag_pb2_grpc.RagServiceServicer):
    def __init__(self, state: PeerState) -> None:
        self.state = state

    async def Ask(self, request, context) -> rag_pb2.AskResponse:
        tenant = self.state.saw("orchestrator")
        self.state.asks.append((tenant, current_request_id() or "", request.query))
        if self.state.ask_delay_s:
            await asyncio.sleep(self.state.ask_delay_s)
        if request.query in self.state.failing_questions:
            raise FailedPrecondition("the fake orchestrator refuses this question")
        self.state.answered += 1
        answer = self.state.answers.get(request.query, "I don't know.")
        docs = self.state.documents.get(tenant, {})
        cited = next((d for d, (_, text) in docs.items() if answer.split(" [")[0] in text), "")
        citations = [common_pb2.Citation(passage_number=1, doc_id=cited)] if cited else []
        return rag_pb2.AskResponse(
            result=rag_pb2.AnswerResult(
                request_id=current_request_id() or "", answer=answer, citations=citations, model="fake"
            )
        )


@dataclass
class FakePeers:
    state: PeerState
    addresses: dict[str, str]

    def env(self) -> dict[str, str]:
        """Settings pointing the eval service at the fakes."""
        return {f"RAGPLANE_{name.upper()}_ADDR": address for name, address in self.addresses.items()}


@pytest.fixture
async def fake_peers() -> AsyncIterator[FakePeers]:
    state = PeerState()
    settings = load_settings(CommonSettings, {}, allow_dev_key=True)
    peers = {
        "ingest": (FakeIngest(state), ingest_pb2_grpc.add_IngestServiceServicer_to_server),
        "embed": (FakeEmbed(state), embed_pb2_grpc.add_EmbedServiceServicer_to_server),
        "retrieve": (FakeRetrieve(state), retrieve_pb2_grpc.add_RetrieveServiceServicer_to_server),
        "rerank": (FakeRerank(state), rerank_pb2_grpc.add_RerankServiceServicer_to_server),
        "orchestrator": (FakeOrchestrator(state), rag_pb2_grpc.add_RagServiceServicer_to_server),
    }
    async with contextlib.AsyncExitStack() as stack:
        addresses = {}
        for name, (servicer, add) in peers.items():
            served = await stack.enter_async_context(serve(ServicerApp(f"fake-{name}", [(add, servicer)]), settings))
            addresses[name] = served.address
        yield FakePeers(state, addresses)


@pytest.fixture(scope="session")
def embedding_judge() -> EmbeddingJudge:
    """The offline judge with its model loaded once for the session (services given it do not close it)."""
    judge = EmbeddingJudge()
    judge.embed(["warm up"])
    return judge
