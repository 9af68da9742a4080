"""The model server's tensor contract (decoding only; no server) and its stop-string handling."""

from __future__ import annotations

import numpy as np
import pytest

from ragplane_generate.modelserver.contract import ContractError, output_arrays, parse_request
from ragplane_generate.modelserver.engine import _StopMatcher

pytestmark = pytest.mark.unit


def tensors(**extra):
    base = {"text_input": np.array([[b"hello"]], dtype=object), "max_tokens": np.array([[16]], dtype=np.int32)}
    base.update(extra)
    return base


def test_minimal_request_gets_greedy_defaults():
    request = parse_request(tensors(), max_tokens_limit=64)
    assert (
        request.prompt,
        request.max_tokens,
        request.temperature,
        request.top_p,
        request.stop,
        request.seed,
        request.stream,
    ) == ("hello", 16, 0.0, 1.0, (), None, False)


def test_all_ensemble_inputs_are_read():
    request = parse_request(
        tensors(
            temperature=np.array([[0.5]], dtype=np.float32),
            top_p=np.array([[0.9]], dtype=np.float32),
            stop_words=np.array([[b"<|im_end|>", b"\n\n"]], dtype=object),
            stream=np.array([[True]]),
            random_seed=np.array([[7]], dtype=np.uint64),
            min_length=np.array([[4]], dtype=np.int32),
        ),
        64,
    )
    assert request.temperature == pytest.approx(0.5) and request.top_p == pytest.approx(0.9)
    assert request.stop == ("<|im_end|>", "\n\n")
    assert (request.stream, request.seed, request.min_tokens) == (True, 7, 4)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("max_tokens", np.array([[0]], dtype=np.int32), "max_tokens: must be between 1 and 64, but got 0"),
        ("max_tokens", np.array([[65]], dtype=np.int32), "max_tokens: must be between 1 and 64, but got 65"),
        ("temperature", np.array([[3.0]], dtype=np.float32), "temperature: must be between 0 and 2"),
        ("top_p", np.array([[0.0]], dtype=np.float32), "top_p: must be in (0, 1]"),
        ("text_input", np.array([[b""]], dtype=object), "text_input: must not be empty"),
        ("text_input", np.array([[b"a"], [b"b"]], dtype=object), "text_input: expected one value (batch size 1)"),
        ("bad_words", np.array([[b"x"]], dtype=object), "bad_words: unexpected input"),
    ],
)
def test_bad_inputs_are_rejected_naming_the_tensor(name, value, message):
    with pytest.raises(ContractError) as info:
        parse_request(tensors(**{name: value}), max_tokens_limit=64)
    assert message in str(info.value)
    assert info.value.tensor == name


def test_missing_required_input_is_named():
    with pytest.raises(ContractError, match="max_tokens: required input is missing"):
        parse_request({"text_input": np.array([[b"x"]], dtype=object)}, 64)


def test_outputs_carry_counts_only_when_given():
    assert set(output_arrays("hi")) == {"text_output"}
    full = output_arrays("hi", 10, 2, "stop")
    assert full["input_token_count"][0, 0] == 10 and full["output_token_count"][0, 0] == 2
    assert full["finish_reason"][0, 0] == b"stop" and full["text_output"][0, 0] == b"hi"


def feed_all(matcher: _StopMatcher, pieces: list[str]) -> tuple[str, bool]:
    out = ""
    for piece in pieces:
        text, stopped = matcher.feed(piece)
        out += text
        if stopped:
            return out, True
    return out + matcher.flush(), False


def test_stop_string_split_across_tokens_ends_generation_and_is_not_emitted():
    assert feed_all(_StopMatcher(("<|im_end|>",)), ["Paris", " is", "<|im", "_end", "|>", "more"]) == ("Paris is", True)


def test_text_that_only_looks_like_a_stop_prefix_is_released():
    assert feed_all(_StopMatcher(("\n\nQ:",)), ["a", "\n", "\n", "b"]) == ("a\n\nb", False)


def test_without_stop_strings_text_passes_through():
    matcher = _StopMatcher(())
    assert matcher.feed("abc") == ("abc", False)
