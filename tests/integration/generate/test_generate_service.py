"""The generate service on a loopback port against the CPU model server, over the real v2 protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest
from support.processes import closed_port_address
from support.servers import serve, serve_bare
from tritonclient.grpc import service_pb2, service_pb2_grpc

from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, generate_pb2, generate_pb2_grpc
from ragplane_generate.app import GenerateApp
from ragplane_generate.config import Settings

pytestmark = pytest.mark.integration

METADATA = [("authorization", "Bearer dev-key")]
CONTEXT = [
    common_pb2.Chunk(
        chunk_id="c-paris",
        text="Paris is the capital and largest city of France.",
        provenance=common_pb2.Provenance(doc_id="france", page=1, title="France", source="f.pdf"),
    ),
    common_pb2.Chunk(
        chunk_id="c-bread",
        text="Baguettes are long thin loaves of French bread.",
        provenance=common_pb2.Provenance(doc_id="bread", title="Bread"),
    ),
]


def settings_for(address: str, tmp_path, **overrides) -> Settings:
    values = {
        "model_addr": address,
        "llm_model": "smollm2-135m",
        "model_cache": str(tmp_path / "models"),
        "profile": "cpu",
    }
    values.update(overrides)
    return load_settings(Settings, {}, allow_dev_key=True, **values)


@pytest.fixture
async def generate(model_server, tmp_path) -> AsyncIterator[generate_pb2_grpc.GenerateServiceStub]:
    settings = settings_for(model_server.address, tmp_path)
    async with serve(GenerateApp(settings), settings) as running:
        yield running.stub(generate_pb2_grpc.GenerateServiceStub)


async def test_generate_returns_text_usage_and_citations_that_map_to_the_context(generate):
    request = generate_pb2.GenerateRequest(
        query="What is the capital of France?", context=CONTEXT, sampling=common_pb2.SamplingParams(max_tokens=24)
    )
    reply = await generate.Generate(request, metadata=METADATA, timeout=120)
    result = reply.result
    assert result.text.strip()
    assert result.usage.prompt_tokens > 100
    assert 0 < result.usage.completion_tokens <= 24
    assert result.finish_reason in {"stop", "length"}
    assert result.model == "smollm2-135m"
    assert result.ttft_ms > 0
    assert result.truncated_passages == 0
    by_number = {1: "c-paris", 2: "c-bread"}
    for citation in result.citations:
        assert by_number[citation.passage_number] == citation.chunk_id
    assert all(n > 2 for n in result.dropped_citations)


async def test_generate_stream_delivers_deltas_before_the_result(generate):
    request = generate_pb2.GenerateStreamRequest(
        query="Describe Paris in detail.", context=CONTEXT, sampling=common_pb2.SamplingParams(max_tokens=32)
    )
    deltas: list[str] = []
    results = []
    async for message in generate.GenerateStream(request, metadata=METADATA, timeout=120):
        if message.WhichOneof("event") == "delta":
            assert not results, "a delta arrived after the result"
            deltas.append(message.delta)
        else:
            results.append(message.result)
    assert len(deltas) >= 3
    assert len(results) == 1
    assert results[0].usage.completion_tokens >= 3
    assert results[0].text.strip() in "".join(deltas).strip() or results[0].dropped_citations


async def test_cancelling_the_stream_stops_generation_on_the_model_server(generate, model_server):
    cancelled_before = model_server.metric("ragplane_modelserver_requests_total", '{finish_reason="cancelled"}')
    request = generate_pb2.GenerateStreamRequest(
        query="Write a very long story about Paris.",
        context=CONTEXT,
        sampling=common_pb2.SamplingParams(max_tokens=1000),
    )
    call = generate.GenerateStream(request, metadata=METADATA, timeout=120)
    async for message in call:
        assert message.WhichOneof("event") == "delta"
        call.cancel()
        break
    for _ in range(300):
        if model_server.metric("ragplane_modelserver_requests_total", '{finish_reason="cancelled"}') > cancelled_before:
            break
        await asyncio.sleep(0.1)
    assert (
        model_server.metric("ragplane_modelserver_requests_total", '{finish_reason="cancelled"}')
        == cancelled_before + 1
    )


async def test_deadline_shorter_than_the_answer_is_deadline_exceeded(model_server, tmp_path):
    settings = settings_for(model_server.address, tmp_path, default_deadline_s=1.0)
    async with serve(GenerateApp(settings), settings) as running:
        stub = running.stub(generate_pb2_grpc.GenerateServiceStub)
        request = generate_pb2.GenerateRequest(
            query="Write a very long story about Paris.",
            context=CONTEXT,
            sampling=common_pb2.SamplingParams(max_tokens=1000),
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Generate(request, metadata=METADATA)
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "deadline" in info.value.details().lower()


async def test_empty_query_is_invalid_argument_naming_query(generate):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await generate.Generate(
            generate_pb2.GenerateRequest(query="  ", context=CONTEXT), metadata=METADATA, timeout=30
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("query:")


async def test_model_server_down_is_unavailable(tmp_path):
    settings = settings_for(closed_port_address(), tmp_path, llm_retries=1)
    async with serve(GenerateApp(settings), settings) as running:
        stub = running.stub(generate_pb2_grpc.GenerateServiceStub)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Generate(
                generate_pb2.GenerateRequest(query="Capital of France?", context=CONTEXT), metadata=METADATA, timeout=30
            )
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "model server" in info.value.details()


class UnaryOnlyV2Server(service_pb2_grpc.GRPCInferenceServiceServicer):
    """A v2 server with ModelInfer and no ModelStreamInfer (as kserve's own server), sending no token counts."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def ModelInfer(self, request, context):  # noqa: N802 - gRPC method name
        index = [t.name for t in request.inputs].index("text_input")
        raw = request.raw_input_contents[index]
        self.prompts.append(raw[4:].decode())
        text = b"Paris [1] [7]"
        content = len(text).to_bytes(4, "little") + text
        return service_pb2.ModelInferResponse(
            model_name=request.model_name,
            id=request.id,
            outputs=[
                service_pb2.ModelInferResponse.InferOutputTensor(name="text_output", datatype="BYTES", shape=[1, 1])
            ],
            raw_output_contents=[content],
        )


async def test_servers_without_stream_infer_are_served_through_model_infer(tmp_path):
    backend = UnaryOnlyV2Server()
    async with serve_bare((service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server, backend)) as address:
        settings = settings_for(address, tmp_path, tokenizer="approx")
        async with serve(GenerateApp(settings), settings) as running:
            stub = running.stub(generate_pb2_grpc.GenerateServiceStub)
            messages = [
                m
                async for m in stub.GenerateStream(
                    generate_pb2.GenerateStreamRequest(query="Capital of France?", context=CONTEXT),
                    metadata=METADATA,
                    timeout=30,
                )
            ]
    assert [m.WhichOneof("event") for m in messages] == ["delta", "result"]
    result = messages[-1].result
    assert result.text == "Paris [1]"
    assert [c.chunk_id for c in result.citations] == ["c-paris"]
    assert list(result.dropped_citations) == [7]
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert "<USER_INPUT>\nCapital of France?\n</USER_INPUT>" in backend.prompts[0]
    assert np.isfinite(result.ttft_ms)
