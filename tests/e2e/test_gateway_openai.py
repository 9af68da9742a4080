"""The HTTP edge on the whole local stack: the official ``openai`` package gets grounded answers with citations
from /v1/chat/completions (plain and streaming), and a document uploaded over REST is indexed and answered from.

The stack's own gateway is used when ``ragplane up`` runs one; otherwise a gateway process is started in front of
the stack's orchestrator and ingest, as ``ragplane bench gateway`` does.
"""

from __future__ import annotations

import contextlib
import re
import time

import httpx
import openai
import pytest

from ragplane.cli.bench_gateway import gateway_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "e2e-key-a"  # tenant-a's key in tests/e2e/conftest.py
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def gateway_url(stack):
    if "gateway" in stack.addresses:
        yield f"http://{stack.addresses['gateway']}"
        return
    with contextlib.ExitStack() as stack_of_processes:
        yield stack_of_processes.enter_context(
            gateway_process(stack.addresses["orchestrator"], stack.addresses["ingest"], env=stack.env)
        )


def _client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=KEY, max_retries=0, timeout=900)


def test_openai_client_gets_a_grounded_answer_with_citations(corpus, gateway_url):
    completion = _client(gateway_url).chat.completions.create(
        model="ragplane",
        messages=[{"role": "user", "content": "Who invented the Zorblax reactor?"}],
        extra_body={"bypass_cache": True},
    )
    message = completion.choices[0].message
    citations = message.model_extra["citations"]
    assert "Okonkwo" in message.content, message.content
    assert citations and any(c["doc_id"].endswith("reactor.md") for c in citations), citations
    assert {int(n) for n in MARKER.findall(message.content)} <= {c["number"] for c in citations}
    assert completion.usage.completion_tokens > 0


def test_openai_client_streams_a_grounded_answer_with_citations(corpus, gateway_url):
    stream = _client(gateway_url).chat.completions.create(
        model="ragplane",
        messages=[{"role": "user", "content": "Since when has the Quellport lantern festival been held?"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"bypass_cache": True},
    )
    text, citations, usage = [], None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            if choice.finish_reason:
                citations = choice.delta.model_extra["citations"]
    answer = "".join(text)
    assert "1921" in answer, answer
    assert citations and any("festival" in c["doc_id"] for c in citations), citations
    assert usage is not None and usage.completion_tokens > 0


def test_a_document_uploaded_over_rest_is_indexed_listed_and_deleted(corpus, gateway_url):
    headers = {"Authorization": f"Bearer {KEY}"}
    text = b"The Brask lighthouse keeper rings the fog bell every seven minutes."
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=900) as http:
        started = time.monotonic()
        uploaded = http.post(
            "/v1/documents",
            params={"wait": "true", "wait_timeout_s": 600},
            files={"file": ("brask.txt", text, "text/plain")},
        )
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["documents"][0]["status"]["state"] == "indexed", time.monotonic() - started
        listed = http.get("/v1/documents", params={"state": "indexed", "limit": 1000}).json()["documents"]
        assert "brask.txt" in [d["doc_id"] for d in listed]
        assert http.delete("/v1/documents/brask.txt").status_code == 200
        assert http.get("/v1/documents/brask.txt").json()["state"] in ("deleting", "deleted")
        assert http.get("/v1/documents/brask.txt", headers={"Authorization": "Bearer e2e-key-b"}).status_code == 404
