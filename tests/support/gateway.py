"""The gateway in a test: uvicorn serving ``create_app(settings)`` on 127.0.0.1, port 0, in the test's event loop,
in front of a real orchestrator (with small stand-in peers, so answers and citations are exact) and a real ingest
service. Clients must be asynchronous (``openai.AsyncOpenAI``, ``httpx.AsyncClient``): the servers share the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from opentelemetry import trace
from ragplane_gateway.app import create_app
from ragplane_gateway.config import Settings as GatewaySettings
from ragplane_gateway.config import load as load_gateway

from ragplane.runtime.context import current_tenant
from ragplane.runtime.settings import load_settings
from ragplane.v1 import (
    common_pb2,
    embed_pb2,
    embed_pb2_grpc,
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
from ragplane_orchestrator.config import Settings as OrchestratorSettings
from support.ingest import make_settings as ingest_settings
from support.ingest import running_ingest
from support.servers import Served, ServicerApp, serve

# The ingest helpers' keys (dev-key=default, key-a=tenant-a, key-b=tenant-b) plus a rate-limited one.
API_KEYS = "dev-key=default,key-a=tenant-a,key-b=tenant-b,key-slow=tenant-limited"
CORPUS = {
    "default": [
        ("france.md", "France", "Paris is the capital of France. It lies on the Seine."),
        ("peru.md", "Peru", "Lima is the capital of Peru. It lies on the Pacific coast."),
    ],
    "tenant-a": [("mars.md", "Mars", "Mars is the fourth planet from the Sun.")],
}


def _vector(text: str) -> list[float]:
    """Words hashed into 64 dimensions: paraphrases land close (semantic cache hits), other questions do not."""
    vector = [0.0] * 64
    for word in re.findall(r"[a-z]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class QueryPeers(
    guardrail_pb2_grpc.GuardrailServiceServicer,
    embed_pb2_grpc.EmbedServiceServicer,
    retrieve_pb2_grpc.RetrieveServiceServicer,
    rerank_pb2_grpc.RerankServiceServicer,
    generate_pb2_grpc.GenerateServiceServicer,
):
    """guardrail, embed, retrieve, rerank and generate in one servicer: word-overlap retrieval over ``CORPUS``, an
    answer that quotes the best passage and cites it as [1]."""

    def __init__(self) -> None:
        self.generate_calls: list[generate_pb2.GenerateRequest] = []
        # The words of the question last embedded: Search gets vectors, not text.
        self.query_words: set[str] = set()
        # The trace id each input check ran under (the caller's trace, carried over two gRPC hops).
        self.trace_ids: list[int] = []

    async def CheckInput(self, request, context):
        self.trace_ids.append(trace.get_current_span().get_span_context().trace_id)
        action = common_pb2.GUARDRAIL_ACTION_ALLOW
        findings = []
        if "ignore previous instructions" in request.text.lower():
            action = common_pb2.GUARDRAIL_ACTION_BLOCK
            findings = [common_pb2.GuardrailFinding(category="prompt_injection", score=0.99)]
        return guardrail_pb2.CheckInputResponse(verdict=common_pb2.GuardrailVerdict(action=action, findings=findings))

    async def CheckOutput(self, request, context):
        return guardrail_pb2.CheckOutputResponse(
            verdict=common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW)
        )

    async def Embed(self, request, context):
        self.query_words = set(re.findall(r"[a-z]{4,}", request.texts[0].lower()))
        return embed_pb2.EmbedResponse(embeddings=[embed_pb2.Embedding(dense=_vector(t)) for t in request.texts])

    async def Search(self, request, context):
        words = self.query_words
        scored = []
        for doc_id, title, text in CORPUS.get(current_tenant(), []):
            score = float(len(words & set(re.findall(r"[a-z]{4,}", text.lower()))))
            if score:
                chunk = common_pb2.Chunk(
                    chunk_id=f"{doc_id}#0",
                    text=text,
                    provenance=common_pb2.Provenance(doc_id=doc_id, source=doc_id, title=title, page=1),
                )
                scored.append((score, chunk))
        scored.sort(key=lambda pair: -pair[0])
        return retrieve_pb2.SearchResponse(
            results=[
                common_pb2.ScoredChunk(chunk=chunk, retrieval_score=score, retrieval_rank=rank)
                for rank, (score, chunk) in enumerate(scored[: request.top_k], start=1)
            ]
        )

    async def Rerank(self, request, context):
        results = list(request.candidates)[: request.top_n or 5]
        for item in results:
            item.rerank_score = item.retrieval_score
        return rerank_pb2.RerankResponse(results=results, model="stand-in")

    def _answer(self, request) -> generate_pb2.GenerationResult:
        first = request.context[0]
        return generate_pb2.GenerationResult(
            text=f"{first.text} [1]",
            citations=[
                common_pb2.Citation(
                    passage_number=1,
                    chunk_id=first.chunk_id,
                    doc_id=first.provenance.doc_id,
                    title=first.provenance.title,
                    source=first.provenance.source,
                    page=first.provenance.page,
                )
            ],
            model="stand-in-llm",
            usage=common_pb2.Usage(prompt_tokens=40, completion_tokens=12),
        )

    async def Generate(self, request, context):
        self.generate_calls.append(request)
        return generate_pb2.GenerateResponse(result=self._answer(request))

    async def GenerateStream(self, request, context):
        self.generate_calls.append(request)
        result = self._answer(request)
        for word in re.findall(r"\S+\s*", result.text):
            await asyncio.sleep(0.005)
            yield generate_pb2.GenerateStreamResponse(delta=word)
        yield generate_pb2.GenerateStreamResponse(result=result)


@dataclass
class Edge:
    """A running gateway and what stands behind it."""

    url: str
    settings: GatewaySettings
    orchestrator: Served
    ingest: Served
    peers: QueryPeers


@contextlib.asynccontextmanager
async def serve_http(settings: GatewaySettings) -> AsyncIterator[str]:
    """``create_app(settings)`` under uvicorn on 127.0.0.1, port 0; yields its base URL."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def serve_edge(kafka_bootstrap: str, redis_url: str, **gateway_overrides: Any) -> AsyncIterator[Edge]:
    """Stand-in peers -> a real orchestrator, a real ingest service, and the gateway in front of both."""
    peers = QueryPeers()
    common = dict(kafka_bootstrap=kafka_bootstrap, redis_url=redis_url, api_keys=API_KEYS, allow_dev_key=True)
    peer_settings = load_settings(OrchestratorSettings, {}, **common)
    adds = [
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server,
        embed_pb2_grpc.add_EmbedServiceServicer_to_server,
        retrieve_pb2_grpc.add_RetrieveServiceServicer_to_server,
        rerank_pb2_grpc.add_RerankServiceServicer_to_server,
        generate_pb2_grpc.add_GenerateServiceServicer_to_server,
    ]
    suffix = uuid.uuid4().hex[:8]
    async with serve(ServicerApp("peers", [(add, peers) for add in adds]), peer_settings) as peer_server:
        address = peer_server.address
        orchestrator_settings = load_settings(
            OrchestratorSettings,
            {},
            **common,
            guardrail_addr=address,
            embed_addr=address,
            retrieve_addr=address,
            rerank_addr=address,
            generate_addr=address,
            answers_topic=f"answers.{suffix}",
            feedback_topic=f"feedback.{suffix}",
            indexed_topic=f"indexed.{suffix}",
            cache_group=f"cache-{suffix}",
            rate_limits="default=0:0,tenant-limited=1:0",
        )
        app = RagApp(orchestrator_settings)
        async with serve(app, orchestrator_settings) as orchestrator:
            await app.redis.flushdb()
            async with running_ingest(ingest_settings(kafka_bootstrap, redis_url, api_keys=API_KEYS)) as ingest:
                settings = load_gateway(
                    {},
                    orchestrator_addr=orchestrator.address,
                    ingest_addr=ingest.address,
                    **gateway_overrides,
                )
                async with serve_http(settings) as url:
                    yield Edge(url, settings, orchestrator, ingest, peers)
