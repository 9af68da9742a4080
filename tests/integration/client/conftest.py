"""Servers the client is tested against: the real ingest service (real broker and Redis, with a stand-in for
retrieve's index writer that reports every complete version INDEXED), and the real orchestrator whose peers
(guardrail, embed, retrieve, rerank, generate) are small stand-ins on one server behind the runtime, as in
tests/integration/orchestrator. TLS material comes from support.certs."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from support.certs import Pki, issue_pki
from support.ingest import indexed_event, make_settings, produce_indexed, running_ingest
from support.servers import ServicerApp
from support.topics import TopicReader

from ragplane.runtime.context import current_tenant
from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import (
    common_pb2,
    embed_pb2,
    embed_pb2_grpc,
    events_pb2,
    generate_pb2,
    generate_pb2_grpc,
    guardrail_pb2,
    guardrail_pb2_grpc,
    rerank_pb2,
    rerank_pb2_grpc,
    retrieve_pb2,
    retrieve_pb2_grpc,
)
from ragplane_orchestrator.app import RagApp
from ragplane_orchestrator.config import Settings as RagSettings

KEYS = "key-a=tenant-a,key-b=tenant-b"
TOKEN = secrets.token_urlsafe(36)
PASSAGES = {
    "tenant-a": [
        ("france", "Paris is the capital of France. It lies on the Seine.", "en"),
        ("peru", "Lima is the capital of Peru. It lies on the Pacific coast.", "es"),
    ],
    "tenant-b": [("mars", "Mars is the fourth planet from the Sun.", "en")],
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return issue_pki(tmp_path_factory.mktemp("pki"))


# -- ingest ---------------------------------------------------------------------------------------------------


async def _index_writer(settings: Any, stop: asyncio.Event) -> None:
    """Reports INDEXED for every version whose batches have all arrived (what retrieve's writer does)."""
    reader = TopicReader(settings.kafka_bootstrap, settings.chunks_topic, events_pb2.ChunksEvent)
    batches: dict[tuple[str, str, int], set[int]] = {}
    try:
        while not stop.is_set():
            done = []
            for _, event, _ in await asyncio.to_thread(reader.poll):
                key = (event.tenant, event.doc_id, event.version.sequence)
                batches.setdefault(key, set()).add(event.batch.index)
                if len(batches[key]) == event.batch.count:
                    total = event.batch.total_chunks
                    done.append(
                        indexed_event(
                            event.tenant,
                            event.doc_id,
                            event.version,
                            events_pb2.INDEX_OUTCOME_INDEXED,
                            indexed=total,
                            total=total,
                        )
                    )
            if done:
                await produce_indexed(settings, done)
    finally:
        reader.close()


@dataclass
class IngestServer:
    address: str
    settings: Any


@pytest.fixture
async def ingest_server(kafka_bootstrap, redis_url) -> AsyncIterator[IngestServer]:
    """The ingest service on loopback, with the stand-in index writer running."""
    settings = make_settings(kafka_bootstrap, redis_url)
    stop = asyncio.Event()
    async with running_ingest(settings) as running:
        writer = asyncio.create_task(_index_writer(settings, stop))
        try:
            yield IngestServer(running.address, settings)
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await writer


@pytest.fixture
async def ingest_without_indexing(kafka_bootstrap, redis_url) -> AsyncIterator[IngestServer]:
    """The ingest service with nothing that indexes: documents stay QUEUED."""
    settings = make_settings(kafka_bootstrap, redis_url)
    async with running_ingest(settings) as running:
        yield IngestServer(running.address, settings)


# -- orchestrator ---------------------------------------------------------------------------------------------


class Peers(
    guardrail_pb2_grpc.GuardrailServiceServicer,
    embed_pb2_grpc.EmbedServiceServicer,
    retrieve_pb2_grpc.RetrieveServiceServicer,
    rerank_pb2_grpc.RerankServiceServicer,
    generate_pb2_grpc.GenerateServiceServicer,
):
    """The orchestrator's five peers in a few lines; ``generate_delay_s`` slows every answer down."""

    def __init__(self) -> None:
        self.generate_delay_s = 0.0
        self.filters: list[list[Any]] = []
        # The conversation turns each generate request carried, as (role name, text).
        self.histories: list[list[tuple[str, str]]] = []

    async def CheckInput(self, request, context):  # noqa: N802 - gRPC method names below too
        if "ignore previous instructions" in request.text.lower():
            finding = common_pb2.GuardrailFinding(category="prompt_injection", score=0.99)
            verdict = common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_BLOCK, findings=[finding])
            return guardrail_pb2.CheckInputResponse(verdict=verdict)
        allow = common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW)
        return guardrail_pb2.CheckInputResponse(verdict=allow)

    async def CheckOutput(self, request, context):  # noqa: N802
        allow = common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW)
        return guardrail_pb2.CheckOutputResponse(verdict=allow)

    async def Embed(self, request, context):  # noqa: N802
        vectors = []
        for text in request.texts:
            vector = [0.0] * 384
            for word in re.findall(r"[a-z]+", text.lower()):
                vector[sum(map(ord, word)) % 384] += 1.0
            vectors.append(embed_pb2.Embedding(dense=vector))
        return embed_pb2.EmbedResponse(embeddings=vectors)

    async def Search(self, request, context):  # noqa: N802
        self.filters.append(list(request.filters))
        langs = [f.equals.string_value for f in request.filters if f.field == "metadata.lang"]
        results = []
        for doc_id, text, lang in PASSAGES.get(current_tenant(), []):
            if langs and lang not in langs:
                continue
            chunk = common_pb2.Chunk(
                chunk_id=f"{current_tenant()}:{doc_id}:0",
                text=text,
                provenance=common_pb2.Provenance(doc_id=doc_id, source=f"{doc_id}.txt", page=1),
            )
            results.append(common_pb2.ScoredChunk(chunk=chunk, retrieval_score=1.0, retrieval_rank=len(results) + 1))
        return retrieve_pb2.SearchResponse(results=results)

    async def Rerank(self, request, context):  # noqa: N802
        results = list(request.candidates)[: request.top_n or 5]
        for item in results:
            item.rerank_score = item.retrieval_score
        return rerank_pb2.RerankResponse(results=results, model="stand-in")

    async def _result(self, request) -> generate_pb2.GenerationResult:
        await asyncio.sleep(self.generate_delay_s)
        self.histories.append([(common_pb2.ConversationRole.Name(t.role), t.text) for t in request.history])
        first = request.context[0]
        citation = common_pb2.Citation(
            passage_number=1, chunk_id=first.chunk_id, doc_id=first.provenance.doc_id, source=first.provenance.source
        )
        return generate_pb2.GenerationResult(
            text=f"{first.text} [1]",
            citations=[citation],
            model="stand-in-llm",
            usage=common_pb2.Usage(prompt_tokens=30, completion_tokens=9),
        )

    async def Generate(self, request, context):  # noqa: N802
        return generate_pb2.GenerateResponse(result=await self._result(request))

    async def GenerateStream(self, request, context):  # noqa: N802
        result = await self._result(request)
        for word in re.findall(r"\S+\s*", result.text):
            yield generate_pb2.GenerateStreamResponse(delta=word)
        yield generate_pb2.GenerateStreamResponse(result=result)


_ADDS = [
    guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server,
    embed_pb2_grpc.add_EmbedServiceServicer_to_server,
    retrieve_pb2_grpc.add_RetrieveServiceServicer_to_server,
    rerank_pb2_grpc.add_RerankServiceServicer_to_server,
    generate_pb2_grpc.add_GenerateServiceServicer_to_server,
]


@dataclass
class RagServer:
    address: str
    port: int
    internal_port: int | None
    peers: Peers
    settings: Any


def _tls(pki: Pki) -> dict[str, Any]:
    return {
        "service_token": TOKEN,
        "tls_cert_file": str(pki.server.cert),
        "tls_key_file": str(pki.server.key),
        "tls_ca_file": str(pki.ca),
        "tls_client_auth": "require",
    }


@contextlib.asynccontextmanager
async def running_orchestrator(kafka_bootstrap: str, redis_url: str, pki: Pki | None = None):
    """The orchestrator and its stand-in peers; with ``pki``, both under TLS (peers and the orchestrator's
    internal listener require client certificates; its public listener serves TLS without one)."""
    peers = Peers()
    tls = _tls(pki) if pki else {"service_token": TOKEN}
    peer_settings = load_settings(CommonSettings, {}, api_keys="", allow_dev_key=True, **tls)
    peer_server = await start_service(
        ServicerApp("retrieve", [(add, peers) for add in _ADDS]), peer_settings, port=0, metrics=False
    )
    suffix = uuid.uuid4().hex[:8]
    peer_address = f"localhost:{peer_server.port}"
    settings = load_settings(
        RagSettings,
        {},
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        api_keys=KEYS,
        allow_dev_key=True,
        guardrail_addr=peer_address,
        embed_addr=peer_address,
        retrieve_addr=peer_address,
        rerank_addr=peer_address,
        generate_addr=peer_address,
        answers_topic=f"answers.{suffix}",
        feedback_topic=f"feedback.{suffix}",
        indexed_topic=f"indexed.{suffix}",
        cache_group=f"cache-{suffix}",
        **({"grpc_internal_listen": "127.0.0.1:0"} if pki else {}),
        **tls,
    )
    app = RagApp(settings)
    orchestrator = await start_service(app, settings, port=0, metrics=False)
    try:
        await app.redis.flushdb()
        yield RagServer(
            f"127.0.0.1:{orchestrator.port}",
            orchestrator.port,
            getattr(orchestrator, "internal_port", None),
            peers,
            settings,
        )
    finally:
        await orchestrator.stop(0)
        await peer_server.stop(0)


@pytest.fixture
async def rag_server(kafka_bootstrap, redis_url) -> AsyncIterator[RagServer]:
    async with running_orchestrator(kafka_bootstrap, redis_url) as server:
        yield server


@pytest.fixture
async def tls_rag_server(kafka_bootstrap, redis_url, pki) -> AsyncIterator[RagServer]:
    async with running_orchestrator(kafka_bootstrap, redis_url, pki) as server:
        yield server
