"""The real orchestrator under mutual TLS, end to end: users ask through its public TLS listener (the CLI with
``--ca``), the orchestrator calls its peers over mutual TLS with its own certificate, keeps its caches in a
TLS-only Redis, and the service token counts only on its internal listener from a certified caller.

The peers are small stand-ins on one internal service (mutual TLS required), as in
tests/integration/orchestrator/test_orchestrator_with_stand_in_peers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import uuid

import grpc
import pytest
from support.servers import ServicerApp

from ragplane.runtime.context import TENANT_HEADER, current_tenant
from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.runtime.tls import channel_credentials
from ragplane.v1 import (
    common_pb2,
    embed_pb2,
    embed_pb2_grpc,
    generate_pb2,
    generate_pb2_grpc,
    guardrail_pb2,
    guardrail_pb2_grpc,
    rag_pb2,
    rag_pb2_grpc,
    rerank_pb2,
    rerank_pb2_grpc,
    retrieve_pb2,
    retrieve_pb2_grpc,
)
from ragplane_orchestrator.app import RagApp
from ragplane_orchestrator.config import Settings

pytestmark = pytest.mark.integration

TOKEN = secrets.token_urlsafe(36)
KEYS = "key-a=tenant-a"
PASSAGE = "Paris is the capital of France. It lies on the Seine."


class _Peers(
    guardrail_pb2_grpc.GuardrailServiceServicer,
    embed_pb2_grpc.EmbedServiceServicer,
    retrieve_pb2_grpc.RetrieveServiceServicer,
    rerank_pb2_grpc.RerankServiceServicer,
    generate_pb2_grpc.GenerateServiceServicer,
):
    """guardrail, embed, retrieve, rerank and generate in a few lines, recording the tenants they served."""

    def __init__(self) -> None:
        self.tenants: list[str] = []

    async def CheckInput(self, request, context):  # noqa: N802 - gRPC method names below too
        self.tenants.append(current_tenant())
        return guardrail_pb2.CheckInputResponse(
            verdict=common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW)
        )

    async def CheckOutput(self, request, context):  # noqa: N802
        return guardrail_pb2.CheckOutputResponse(
            verdict=common_pb2.GuardrailVerdict(action=common_pb2.GUARDRAIL_ACTION_ALLOW)
        )

    async def Embed(self, request, context):  # noqa: N802
        return embed_pb2.EmbedResponse(
            embeddings=[embed_pb2.Embedding(dense=[1.0] + [0.0] * 383) for _ in request.texts]
        )

    async def Search(self, request, context):  # noqa: N802
        chunk = common_pb2.Chunk(
            chunk_id=f"{current_tenant()}:france:0",
            text=PASSAGE,
            provenance=common_pb2.Provenance(doc_id="france", source="france.txt"),
        )
        return retrieve_pb2.SearchResponse(
            results=[common_pb2.ScoredChunk(chunk=chunk, retrieval_score=1.0, retrieval_rank=1)]
        )

    async def Rerank(self, request, context):  # noqa: N802
        results = list(request.candidates)
        for item in results:
            item.rerank_score = item.retrieval_score
        return rerank_pb2.RerankResponse(results=results, model="stand-in")

    async def Generate(self, request, context):  # noqa: N802
        first = request.context[0]
        return generate_pb2.GenerateResponse(
            result=generate_pb2.GenerationResult(
                text=f"{first.text} [1]",
                citations=[
                    common_pb2.Citation(passage_number=1, chunk_id=first.chunk_id, doc_id=first.provenance.doc_id)
                ],
                model="stand-in-llm",
                usage=common_pb2.Usage(prompt_tokens=10, completion_tokens=5),
            )
        )

    async def GenerateStream(self, request, context):  # noqa: N802
        result = (await self.Generate(request, context)).result
        for word in result.text.split(" "):
            yield generate_pb2.GenerateStreamResponse(delta=word + " ")
        yield generate_pb2.GenerateStreamResponse(result=result)


def _tls(pki) -> dict:
    return {
        "service_token": TOKEN,
        "tls_cert_file": str(pki.server.cert),
        "tls_key_file": str(pki.server.key),
        "tls_ca_file": str(pki.ca),
        "tls_client_auth": "require",
    }


@contextlib.asynccontextmanager
async def _stack(pki, kafka_bootstrap, tls_redis_url):
    peers = _Peers()
    adds = [
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server,
        embed_pb2_grpc.add_EmbedServiceServicer_to_server,
        retrieve_pb2_grpc.add_RetrieveServiceServicer_to_server,
        rerank_pb2_grpc.add_RerankServiceServicer_to_server,
        generate_pb2_grpc.add_GenerateServiceServicer_to_server,
    ]
    # Named as an internal service: its listener requires an internal client certificate.
    peer_settings = load_settings(CommonSettings, {}, api_keys="", **_tls(pki))
    peer = await start_service(
        ServicerApp("retrieve", [(add, peers) for add in adds]), peer_settings, port=0, metrics=False
    )
    suffix = uuid.uuid4().hex[:8]
    address = f"localhost:{peer.port}"
    settings = load_settings(
        Settings,
        {},
        kafka_bootstrap=kafka_bootstrap,
        redis_url=tls_redis_url,
        redis_ca_file=str(pki.ca),
        api_keys=KEYS,
        grpc_internal_listen="127.0.0.1:0",
        guardrail_addr=address,
        embed_addr=address,
        retrieve_addr=address,
        rerank_addr=address,
        generate_addr=address,
        answers_topic=f"answers.{suffix}",
        feedback_topic=f"feedback.{suffix}",
        indexed_topic=f"indexed.{suffix}",
        cache_group=f"cache-{suffix}",
        **_tls(pki),
    )
    app = RagApp(settings)
    orchestrator = await start_service(app, settings, port=0, metrics=False)
    try:
        yield orchestrator, peers
    finally:
        await orchestrator.stop(0)
        await peer.stop(0)


def _cli_ask(port: int, *flags: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ragplane.cli.main", "ask", "What is the capital of France?"]
    command += ["--addr", f"127.0.0.1:{port}", "--api-key", "key-a", "--json", "--timeout", "20", *flags]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


async def test_the_cli_asks_a_tls_orchestrator_that_calls_its_peers_over_mutual_tls(
    pki, kafka_bootstrap, tls_redis_url
):
    async with _stack(pki, kafka_bootstrap, tls_redis_url) as (orchestrator, peers):
        answered = await asyncio.to_thread(_cli_ask, orchestrator.port, "--ca", str(pki.ca))
        assert answered.returncode == 0, answered.stderr[-2000:]
        result = json.loads(answered.stdout)
        assert "Paris" in result["answer"]
        assert [c["doc_id"] for c in result["citations"]] == ["france"]
        # The peers saw the user's tenant, carried under the service token over mutual TLS.
        assert peers.tenants == ["tenant-a"]
        # The answer went into the TLS Redis: the same question again is a cache hit.
        again = json.loads((await asyncio.to_thread(_cli_ask, orchestrator.port, "--ca", str(pki.ca))).stdout)
        assert again["cache"] == "CACHE_OUTCOME_EXACT_HIT"

        # Streaming (AskStream -> GenerateStream) takes the same mutual-TLS channels.
        streamed = await asyncio.to_thread(_cli_ask, orchestrator.port, "--ca", str(pki.ca), "--stream", "--no-cache")
        assert streamed.returncode == 0, streamed.stderr[-2000:]
        assert "Paris" in json.loads(streamed.stdout)["answer"]

        untrusted = await asyncio.to_thread(_cli_ask, orchestrator.port, "--ca", str(pki.foreign_ca))
        plaintext = await asyncio.to_thread(_cli_ask, orchestrator.port)
    assert untrusted.returncode == 1 and "UNAVAILABLE" in untrusted.stderr
    assert plaintext.returncode == 1 and "UNAVAILABLE" in plaintext.stderr


async def test_the_service_token_counts_only_on_the_internal_listener_from_a_certified_caller(
    pki, kafka_bootstrap, tls_redis_url
):
    token = [("authorization", f"Bearer {TOKEN}"), (TENANT_HEADER, "tenant-b")]
    request = rag_pb2.AskRequest(query="What is the capital of France?")
    async with _stack(pki, kafka_bootstrap, tls_redis_url) as (orchestrator, peers):
        public = grpc.aio.secure_channel(f"localhost:{orchestrator.port}", channel_credentials(str(pki.ca)))
        internal = grpc.aio.secure_channel(
            f"localhost:{orchestrator.internal_port}",
            channel_credentials(str(pki.ca), str(pki.client.cert), str(pki.client.key)),
        )
        try:
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await rag_pb2_grpc.RagServiceStub(public).Ask(request, metadata=token, timeout=20)
            reply = await rag_pb2_grpc.RagServiceStub(internal).Ask(request, metadata=token, timeout=20)
        finally:
            await public.close()
            await internal.close()
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "Paris" in reply.result.answer
    assert peers.tenants == ["tenant-b"]
