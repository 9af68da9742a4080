"""Every scenario of charts/ragplane/ci boots: each workload of ours starts from its rendered plan (environment,
args, mounted ConfigMaps and Secrets, the pod's user, only its writable mounts writable), reaches SERVING, and a
document ingested through ingest is answered with a citation through the orchestrator.

The substitutions are the ones tests/deploy/README.md lists. Each scenario boots one replica per workload (the
replicas run the same code; tests/deploy/test_balancing.py boots several).
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from chart.chartlib import SCENARIOS
from deploy.harness import Deployment, switches_user

from ragplane.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, rag_pb2, rag_pb2_grpc

pytestmark = [pytest.mark.deploy, pytest.mark.integration, pytest.mark.slow]

DOCUMENT = (
    "The glass herons of the Zorblat delta migrate every March to the Kelvane highlands, "
    "where they nest on basalt cliffs above the lakes. Ornithologists count about four thousand pairs."
)
# Greedy decoding over the one best passage. The small CPU model does not always write a [n] marker, and whether it
# does depends on the prompt (the GPU scenarios format it for Llama 3); these phrasings are asked in turn until
# one answer cites the document, and the test fails when none does.
QUESTIONS = (
    "Where do the glass herons migrate every March? Answer in one sentence and cite the passage as [1].",
    "Where do glass herons migrate? Cite the passage.",
    "Which highlands do the glass herons of the Zorblat delta fly to? Cite your source as [1].",
)
ASK_OPTIONS = rag_pb2.AskOptions(
    top_n=1, bypass_cache=True, sampling=common_pb2.SamplingParams(temperature=0.0, max_tokens=64)
)
INDEX_TIMEOUT_S = 180.0
# Scenarios that also ask through the gateway over HTTP (httpx): the locked-down one (client keys from a Secret,
# no development key) and the one with mutual TLS between the workloads (the gateway serves HTTPS and verifies
# the orchestrator with the CA). In every scenario the gateway must reach ready (/readyz) like the gRPC services reach SERVING.
GATEWAY_SCENARIOS = frozenset({"external-kafka-sasl", "tls-mtls"})


def ingest_and_ask(deployment: Deployment, doc_id: str) -> rag_pb2.AnswerResult:
    """Upsert a document through ingest, wait until it is INDEXED, then Ask the orchestrator about it.

    Returns:
        the first answer that cites the document, else the last answer.
    """
    return ingest_and_ask_with_question(deployment, doc_id)[0]


def ingest_and_ask_with_question(deployment: Deployment, doc_id: str) -> tuple[rag_pb2.AnswerResult, str]:
    """``ingest_and_ask``, and the question the answer it returns answers."""
    auth = [("authorization", f"Bearer {deployment.client_key()}")]
    with deployment.channel("ingest") as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        header = ingest_pb2.DocumentHeader(doc_id=doc_id, source=f"{doc_id}.txt", content_type="text/plain")
        stub.UpsertDocument(
            ingest_pb2.UpsertDocumentRequest(header=header, content=DOCUMENT.encode()), metadata=auth, timeout=60
        )
        deadline = time.monotonic() + INDEX_TIMEOUT_S
        while True:
            status = stub.GetDocumentStatus(
                ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id), metadata=auth, timeout=10
            ).status
            if status.state in (ingest_pb2.DOCUMENT_STATE_INDEXED, ingest_pb2.DOCUMENT_STATE_FAILED):
                break
            assert time.monotonic() < deadline, (
                f"{doc_id} not indexed after {INDEX_TIMEOUT_S}s: {ingest_pb2.DocumentState.Name(status.state)}\n"
                + deployment.tails("ingest", "embed", "retrieve")
            )
            time.sleep(0.5)
        assert status.state == ingest_pb2.DOCUMENT_STATE_INDEXED, status
    results = []
    with deployment.channel("orchestrator") as channel:
        stub = rag_pb2_grpc.RagServiceStub(channel)
        for question in QUESTIONS:
            reply = stub.Ask(rag_pb2.AskRequest(query=question, options=ASK_OPTIONS), metadata=auth, timeout=300)
            results.append(reply.result)
            if any(c.doc_id == doc_id for c in reply.result.citations):
                break
    return results[-1], question


def ask_through_the_gateway(deployment: Deployment, question: str, key: str) -> httpx.Response:
    """The same question as an OpenAI chat completion to the gateway (same sampling as ``ASK_OPTIONS``)."""
    body = {
        "model": "ragplane",
        "messages": [{"role": "user", "content": question}],
        "temperature": 0.0,
        "max_tokens": ASK_OPTIONS.sampling.max_tokens,
        "top_n": ASK_OPTIONS.top_n,
        "bypass_cache": True,
    }
    headers = {"Authorization": f"Bearer {key}"}
    return deployment.http("gateway", "POST", "/v1/chat/completions", json=body, headers=headers, timeout=300)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_workload_of_the_scenario_serves_and_a_document_is_answered_with_a_citation(
    rendered_scenarios, kafka_bootstrap, scenario
):
    began = time.monotonic()
    with Deployment(rendered_scenarios[scenario], kafka_bootstrap) as deployment:
        booted = time.monotonic()
        if switches_user():
            # Every replica runs as its pod's runAsUser (10001 for ours), not as the test's root.
            assert all(uid == wanted for uid, wanted in deployment.uids().values()), deployment.uids()
        doc_id = f"herons-{uuid.uuid4().hex[:8]}"
        result, question = ingest_and_ask_with_question(deployment, doc_id)
        answered = time.monotonic()
        assert result.answer.strip(), result
        assert any(c.doc_id == doc_id for c in result.citations), result
        if scenario in GATEWAY_SCENARIOS:
            reply = ask_through_the_gateway(deployment, question, deployment.client_key())
            assert reply.status_code == 200, (reply.text, deployment.tails("gateway"))
            message = reply.json()["choices"][0]["message"]
            assert message["content"].strip() and doc_id in {c["doc_id"] for c in message["citations"]}, message
            refused = ask_through_the_gateway(deployment, question, "not-a-key")
            assert refused.status_code == 401, refused.text  # the orchestrator checked the caller's key
            found = deployment.http(
                "gateway",
                "POST",
                "/v1/search",
                json={"query": "Where do the glass herons nest?", "top_k": 1},
                headers={"Authorization": f"Bearer {deployment.client_key()}"},
                timeout=60,
            )
            assert found.status_code == 200, found.text
            hits = found.json()["hits"]
            assert [hit["doc_id"] for hit in hits] == [doc_id] and "basalt cliffs" in hits[0]["text"], hits
    print(
        f"\n[boot] {scenario}: {len(deployment.running)} processes SERVING in {booted - began:.1f}s, "
        f"indexed and answered in {answered - booted:.1f}s, total {time.monotonic() - began:.1f}s"
    )
