"""The v2 client's request tensors and how model-server failures map to domain errors (one mapping for all
v2 callers, ``ragplane.runtime.inference``)."""

from __future__ import annotations

import grpc
import pytest
from tritonclient.utils import InferenceServerException

from ragplane.runtime import errors
from ragplane.runtime.inference import map_error, tensor
from ragplane_generate.llm_client import LlmClient, Sampling, build_inputs

pytestmark = pytest.mark.unit


def by_name(inputs):
    return {name: tensor(name, array) for name, array in inputs.items()}


def test_inputs_follow_the_tensorrt_llm_ensemble_contract():
    inputs = by_name(
        build_inputs(
            "prompt", Sampling(max_tokens=32, temperature=0.2, top_p=0.9, stop=("<|im_end|>",), seed=5), stream=True
        )
    )
    assert set(inputs) == {"text_input", "max_tokens", "temperature", "top_p", "stream", "stop_words", "random_seed"}
    assert inputs["text_input"].datatype() == "BYTES" and inputs["text_input"].shape() == [1, 1]
    assert inputs["max_tokens"].datatype() == "INT32"
    assert inputs["temperature"].datatype() == "FP32" and inputs["top_p"].datatype() == "FP32"
    assert inputs["stream"].datatype() == "BOOL"
    assert inputs["stop_words"].shape() == [1, 1]
    assert inputs["random_seed"].datatype() == "UINT64"


def test_optional_inputs_are_left_out_when_unset():
    inputs = by_name(build_inputs("p", Sampling(max_tokens=8), stream=False))
    assert "stop_words" not in inputs and "random_seed" not in inputs


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused"), errors.Unavailable),
        (FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline"), errors.DeadlineExceeded),
        (FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy"), errors.ResourceExhausted),
        (
            InferenceServerException("Request for unknown model: 'x' is not found", status="StatusCode.NOT_FOUND"),
            errors.FailedPrecondition,
        ),
        (InferenceServerException("text_input: prompt too long"), errors.FailedPrecondition),
        (InferenceServerException("Model with name ensemble is not ready."), errors.Unavailable),
        (InferenceServerException("3 requests are waiting for the model; retry later"), errors.ResourceExhausted),
        (FakeRpcError(grpc.StatusCode.INTERNAL, "boom"), errors.Internal),
    ],
)
def test_failures_keep_their_meaning(exc, expected):
    error = map_error(exc, "model server (ensemble)")
    assert type(error) is expected
    assert error.message.startswith("model server (ensemble): ")


def test_streaming_mode_is_validated():
    with pytest.raises(ValueError, match="streaming must be one of auto, on, off, but got 'yes'"):
        LlmClient("127.0.0.1:1", "ensemble", streaming="yes")


def test_text_input_is_utf8_bytes():
    inputs = by_name(build_inputs("héllo", Sampling(max_tokens=1), stream=False))
    assert "héllo".encode() in inputs["text_input"]._get_content()
