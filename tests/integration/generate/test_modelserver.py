"""The CPU model server over the real v2 gRPC protocol, driven with tritonclient from another process."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest
from tritonclient.grpc import InferInput
from tritonclient.grpc.aio import InferenceServerClient
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.integration

PROMPT = "<|im_start|>user\nWrite a long story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n"


def tensor(name: str, datatype: str, value, dtype) -> InferInput:
    array = np.array([[value]], dtype=dtype)
    t = InferInput(name, list(array.shape), datatype)
    t.set_data_from_numpy(array)
    return t


def inputs(prompt: str = PROMPT, max_tokens: int = 16, stream: bool = False, min_length: int = 0):
    items = [
        tensor("text_input", "BYTES", prompt.encode(), np.object_),
        tensor("max_tokens", "INT32", max_tokens, np.int32),
        tensor("temperature", "FP32", 0.0, np.float32),
        tensor("stream", "BOOL", stream, np.bool_),
    ]
    if min_length:
        items.append(tensor("min_length", "INT32", min_length, np.int32))
    return items


def final_flag(result) -> bool:
    parameters = result.get_response().parameters
    return "triton_final_response" in parameters and parameters["triton_final_response"].bool_param


async def test_server_and_model_report_live_ready_and_the_ensemble_contract(model_server):
    async with InferenceServerClient(model_server.address) as client:
        assert await client.is_server_live()
        assert await client.is_server_ready()
        assert await client.is_model_ready("ensemble")
        metadata = await client.get_model_metadata("ensemble", as_json=True)
    assert metadata["name"] == "ensemble"
    assert {"text_input", "max_tokens", "temperature", "top_p", "stop_words", "stream"} <= {
        i["name"] for i in metadata["inputs"]
    }
    assert "text_output" in {o["name"] for o in metadata["outputs"]}


async def test_model_infer_returns_text_and_token_counts(model_server):
    async with InferenceServerClient(model_server.address) as client:
        result = await client.infer("ensemble", inputs(max_tokens=8, min_length=8), client_timeout=60)
    text = result.as_numpy("text_output").reshape(-1)[0].decode()
    assert text.strip()
    assert int(result.as_numpy("output_token_count").reshape(-1)[0]) == 8
    assert int(result.as_numpy("input_token_count").reshape(-1)[0]) > 10
    assert result.as_numpy("finish_reason").reshape(-1)[0] == b"length"


async def test_stream_infer_delivers_several_responses_before_the_final_one(model_server):
    async def one_request():
        yield {"model_name": "ensemble", "inputs": inputs(max_tokens=12, stream=True, min_length=12)}

    responses = []
    async with InferenceServerClient(model_server.address) as client:
        async for result, error in client.stream_infer(one_request(), stream_timeout=60):
            assert error is None
            responses.append(result)
            if final_flag(result):
                break
    assert len(responses) >= 4
    assert not any(final_flag(r) for r in responses[:-1])
    deltas = [r.as_numpy("text_output").reshape(-1)[0].decode() for r in responses[:-1]]
    assert sum(1 for d in deltas if d) >= 3
    final = responses[-1]
    assert final_flag(final)
    assert int(final.as_numpy("output_token_count").reshape(-1)[0]) == 12


async def test_unknown_model_is_not_found(model_server):
    async with InferenceServerClient(model_server.address) as client:
        for call in (client.get_model_metadata("nope"), client.infer("nope", inputs())):
            with pytest.raises(InferenceServerException) as info:
                await call
            assert info.value.status() == "StatusCode.NOT_FOUND"

        async def one_request():
            yield {"model_name": "nope", "inputs": inputs(stream=True)}

        async for result, error in client.stream_infer(one_request(), stream_timeout=30):
            assert result is None
            assert "unknown model: 'nope'" in error.message()
            break


async def test_invalid_inputs_are_invalid_argument_naming_the_tensor(model_server):
    async with InferenceServerClient(model_server.address) as client:
        with pytest.raises(InferenceServerException) as info:
            await client.infer("ensemble", inputs(max_tokens=0))
    assert info.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "max_tokens" in info.value.message()


async def test_cancelling_a_stream_stops_generation_on_the_server(model_server):
    before = model_server.metric("ragplane_modelserver_requests_total", '{finish_reason="cancelled"}')
    tokens_before = model_server.metric("ragplane_modelserver_tokens_total", '{kind="completion"}')

    async def one_request():
        yield {"model_name": "ensemble", "inputs": inputs(max_tokens=1000, stream=True, min_length=1000)}

    async with InferenceServerClient(model_server.address) as client:
        stream = client.stream_infer(one_request(), stream_timeout=120)
        received = 0
        async for _result, error in stream:
            assert error is None
            received += 1
            if received == 2:
                stream.cancel()
                break
    for _ in range(300):
        if model_server.metric("ragplane_modelserver_requests_total", '{finish_reason="cancelled"}') > before:
            break
        await asyncio.sleep(0.1)
    assert model_server.metric("ragplane_modelserver_requests_total", '{finish_reason="cancelled"}') == before + 1
    generated = model_server.metric("ragplane_modelserver_tokens_total", '{kind="completion"}') - tokens_before
    assert generated < 1000


async def test_model_is_not_ready_until_loaded_and_after_unload(start_server):
    server = start_server(RAGPLANE_LLM_LOAD="explicit")
    server.wait_for("NOT_SERVING", timeout_s=120)
    async with InferenceServerClient(server.address) as client:
        assert await client.is_server_live()
        assert not await client.is_server_ready()
        assert not await client.is_model_ready("ensemble")
        with pytest.raises(InferenceServerException) as info:
            await client.infer("ensemble", inputs())
        assert info.value.status() == "StatusCode.UNAVAILABLE"
        assert "not ready" in info.value.message()

        await client.load_model("ensemble", client_timeout=120)

        assert await client.is_server_ready()
        assert await client.is_model_ready("ensemble")
        assert server.health() == "SERVING"
        result = await client.infer("ensemble", inputs(max_tokens=4), client_timeout=60)
        assert result.as_numpy("text_output") is not None

        await client.unload_model("ensemble")
        assert not await client.is_model_ready("ensemble")
        with pytest.raises(InferenceServerException) as info:
            await client.infer("ensemble", inputs())
        assert info.value.status() == "StatusCode.UNAVAILABLE"
    server.wait_for("NOT_SERVING", timeout_s=30)


def test_modelserver_process_never_imports_tritonclient():
    code = (
        "import sys, ragplane_generate.modelserver.server; "
        "assert 'kserve' in sys.modules; assert 'tritonclient' not in sys.modules, 'tritonclient imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_model_that_cannot_load_ends_the_process_with_the_reason(start_server, tmp_path):
    server = start_server(RAGPLANE_LLM_MODEL=str(tmp_path / "absent.gguf"))
    assert server.process.wait(timeout=120) == 1
    log = server.log_path.read_text()
    assert "model failed to load" in log and "absent.gguf does not exist" in log


def test_sigterm_drains_and_exits_cleanly(start_server):
    server = start_server()
    server.wait_for("SERVING")
    server.process.terminate()
    assert server.process.wait(timeout=60) == 0
    assert "signal received" in server.log_path.read_text()
