"""The tensor contract of the TensorRT-LLM ``ensemble`` model, as the CPU model server serves it.

Inputs (shape ``[1, 1]`` unless noted; one request per inference, the batch dimension is 1):
| name | datatype | required | meaning |
|---|---|---|---|
| ``text_input`` | BYTES | yes | the fully rendered prompt (chat template applied by the caller) |
| ``max_tokens`` | INT32 | yes | most tokens to generate |
| ``temperature`` | FP32 | no (0.0) | 0 is greedy decoding |
| ``top_p`` | FP32 | no (1.0) | nucleus sampling |
| ``stop_words`` | BYTES ``[1, n]`` | no | strings that end generation; not included in the output |
| ``stream`` | BOOL | no (false) | on ModelStreamInfer: one response per token chunk |
| ``random_seed`` (or ``seed``) | UINT64/INT64 | no | sampling seed |
| ``min_length`` | INT32 | no (0) | end-of-sequence is suppressed until this many tokens exist |

Outputs:
| name | datatype | meaning |
|---|---|---|
| ``text_output`` | BYTES ``[1, 1]`` | generated text (a delta per streamed response; empty on the final one) |
| ``input_token_count`` | INT32 ``[1, 1]`` | prompt tokens (whole answers and final streamed responses only) |
| ``output_token_count`` | INT32 ``[1, 1]`` | generated tokens (same) |
| ``finish_reason`` | BYTES ``[1, 1]`` | ``stop``, ``length`` or ``cancelled`` (same) |

The last three are ours; Triton's TensorRT-LLM ensemble does not return them, so clients must count tokens
themselves when they are absent. This module is pure (numpy only) so that it is testable without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

TEXT_INPUT = "text_input"
MAX_TOKENS = "max_tokens"
TEMPERATURE = "temperature"
TOP_P = "top_p"
STOP_WORDS = "stop_words"
STREAM = "stream"
RANDOM_SEED = "random_seed"
SEED = "seed"
MIN_LENGTH = "min_length"

TEXT_OUTPUT = "text_output"
INPUT_TOKEN_COUNT = "input_token_count"
OUTPUT_TOKEN_COUNT = "output_token_count"
FINISH_REASON = "finish_reason"

# Triton marks each streamed response with this parameter; the last one of a request carries true.
FINAL_RESPONSE_PARAMETER = "triton_final_response"

INPUTS = [
    {"name": TEXT_INPUT, "datatype": "BYTES", "shape": [-1, 1]},
    {"name": MAX_TOKENS, "datatype": "INT32", "shape": [-1, 1]},
    {"name": TEMPERATURE, "datatype": "FP32", "shape": [-1, 1]},
    {"name": TOP_P, "datatype": "FP32", "shape": [-1, 1]},
    {"name": STOP_WORDS, "datatype": "BYTES", "shape": [-1, -1]},
    {"name": STREAM, "datatype": "BOOL", "shape": [-1, 1]},
    {"name": RANDOM_SEED, "datatype": "UINT64", "shape": [-1, 1]},
    {"name": MIN_LENGTH, "datatype": "INT32", "shape": [-1, 1]},
]
OUTPUTS = [
    {"name": TEXT_OUTPUT, "datatype": "BYTES", "shape": [-1, 1]},
    {"name": INPUT_TOKEN_COUNT, "datatype": "INT32", "shape": [-1, 1]},
    {"name": OUTPUT_TOKEN_COUNT, "datatype": "INT32", "shape": [-1, 1]},
    {"name": FINISH_REASON, "datatype": "BYTES", "shape": [-1, 1]},
]

KNOWN_INPUTS = frozenset(
    {TEXT_INPUT, MAX_TOKENS, TEMPERATURE, TOP_P, STOP_WORDS, STREAM, RANDOM_SEED, SEED, MIN_LENGTH}
)


class ContractError(ValueError):
    """A request does not follow the tensor contract; the message names the tensor."""

    def __init__(self, tensor: str, problem: str) -> None:
        super().__init__(f"{tensor}: {problem}")
        self.tensor = tensor


@dataclass(frozen=True)
class GenerationRequest:
    """One generation, decoded from the request tensors.

    Attributes:
        prompt: the rendered prompt.
        max_tokens: most tokens to generate (> 0).
        temperature: 0 for greedy decoding.
        top_p: nucleus sampling mass in (0, 1].
        stop: strings that end generation.
        seed: sampling seed, or None for a random one.
        min_tokens: end-of-sequence is suppressed until this many tokens exist.
        stream: whether the caller asked for token streaming.
    """

    prompt: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    min_tokens: int = 0
    stream: bool = False


def _scalar(tensors: Mapping[str, np.ndarray], name: str, kind: type, default=None):
    array = tensors.get(name)
    if array is None:
        if default is None:
            raise ContractError(name, "required input is missing")
        return default
    flat = np.asarray(array).reshape(-1)
    if flat.size != 1:
        raise ContractError(name, f"expected one value (batch size 1), got {flat.size}")
    value = flat[0]
    if kind is str:
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                raise ContractError(name, "is not valid UTF-8") from None
        return str(value)
    if kind is bool:
        return bool(value)
    return kind(value)


def _strings(tensors: Mapping[str, np.ndarray], name: str) -> tuple[str, ...]:
    array = tensors.get(name)
    if array is None:
        return ()
    out = []
    for value in np.asarray(array).reshape(-1):
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        if text:
            out.append(text)
    return tuple(out)


def parse_request(tensors: Mapping[str, np.ndarray], max_tokens_limit: int) -> GenerationRequest:
    """Decode and validate the input tensors of one request.

    Args:
        tensors: input name -> numpy array.
        max_tokens_limit: the most tokens this server generates for one request.

    Returns:
        The generation request.

    Raises:
        ContractError: an input is missing, unknown, malformed or out of range.
    """
    unknown = sorted(set(tensors) - KNOWN_INPUTS)
    if unknown:
        raise ContractError(unknown[0], f"unexpected input; this model takes {', '.join(sorted(KNOWN_INPUTS))}")
    prompt = _scalar(tensors, TEXT_INPUT, str)
    if not prompt:
        raise ContractError(TEXT_INPUT, "must not be empty")
    max_tokens = _scalar(tensors, MAX_TOKENS, int)
    if not 0 < max_tokens <= max_tokens_limit:
        raise ContractError(MAX_TOKENS, f"must be between 1 and {max_tokens_limit}, but got {max_tokens}")
    temperature = _scalar(tensors, TEMPERATURE, float, 0.0)
    if not 0.0 <= temperature <= 2.0:
        raise ContractError(TEMPERATURE, f"must be between 0 and 2, but got {temperature}")
    top_p = _scalar(tensors, TOP_P, float, 1.0)
    if not 0.0 < top_p <= 1.0:
        raise ContractError(TOP_P, f"must be in (0, 1], but got {top_p}")
    seed_name = RANDOM_SEED if RANDOM_SEED in tensors else SEED
    seed = _scalar(tensors, seed_name, int, -1)
    min_tokens = _scalar(tensors, MIN_LENGTH, int, 0)
    if not 0 <= min_tokens <= max_tokens:
        raise ContractError(MIN_LENGTH, f"must be between 0 and max_tokens ({max_tokens}), but got {min_tokens}")
    return GenerationRequest(
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=_strings(tensors, STOP_WORDS),
        seed=None if seed < 0 else seed & 0xFFFFFFFF,
        min_tokens=min_tokens,
        stream=_scalar(tensors, STREAM, bool, False),
    )


def output_arrays(
    text: str, prompt_tokens: int | None = None, completion_tokens: int | None = None, finish_reason: str | None = None
) -> dict[str, np.ndarray]:
    """Output tensors of one response: the text, plus the counts and finish reason when given."""
    outputs = {TEXT_OUTPUT: np.array([[text.encode("utf-8")]], dtype=np.object_)}
    if prompt_tokens is not None:
        outputs[INPUT_TOKEN_COUNT] = np.array([[prompt_tokens]], dtype=np.int32)
    if completion_tokens is not None:
        outputs[OUTPUT_TOKEN_COUNT] = np.array([[completion_tokens]], dtype=np.int32)
    if finish_reason is not None:
        outputs[FINISH_REASON] = np.array([[finish_reason.encode()]], dtype=np.object_)
    return outputs
