"""A cross-encoder served over the v2 inference protocol (Triton or any v2 server), through tritonclient.

Contract (names configurable): inputs ``query`` and ``passage``, BYTES, shape ``[n, 1]`` (one row per pair);
output ``score``, FP32, shape ``[n, 1]`` or ``[n]`` (a logit or probability; higher is more relevant). Models that
return two-class logits ``[n, 2]`` are read from their last column. Tokenisation happens on the server (for
example a Triton ensemble of a tokenizer and the ONNX/TensorRT cross-encoder).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ragplane.runtime import errors
from ragplane.runtime.interceptors import remaining_time
from ragplane_rerank.rerankers import Candidate, _with_title


class TritonReranker:
    """Scores (query, passage) pairs with a cross-encoder behind the v2 protocol.

    Args:
        address: host:port of the v2 gRPC endpoint.
        model: the v2 model name.
        query_input, passage_input, score_output: tensor names.
        batch_size: pairs per request (the server's max batch size).
        timeout_s: deadline of a call made outside a request.
    """

    def __init__(self, address: str, model: str, query_input: str = "query", passage_input: str = "passage",
                 score_output: str = "score", batch_size: int = 64, timeout_s: float = 5.0) -> None:
        self.name = f"triton:{model}"
        self.address = address
        self.model = model
        self.query_input = query_input
        self.passage_input = passage_input
        self.score_output = score_output
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._client: Any = None

    def warm_up(self) -> None:
        # The aio channel is created on first use, inside the serving event loop.
        import tritonclient.grpc.aio  # noqa: F401 - fail at start when the client is missing

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        from tritonclient.grpc import InferInput, InferRequestedOutput
        from tritonclient.grpc.aio import InferenceServerClient
        from tritonclient.utils import InferenceServerException

        if self._client is None:
            self._client = InferenceServerClient(self.address)
        scores: list[float] = []
        for start in range(0, len(candidates), self.batch_size):
            batch = candidates[start:start + self.batch_size]
            queries = np.array([[query.encode("utf-8")] for _ in batch], dtype=np.object_)
            passages = np.array([[_with_title(c).encode("utf-8")] for c in batch], dtype=np.object_)
            inputs = []
            for name, array in ((self.query_input, queries), (self.passage_input, passages)):
                tensor = InferInput(name, list(array.shape), "BYTES")
                tensor.set_data_from_numpy(array)
                inputs.append(tensor)
            timeout = remaining_time(self.timeout_s)
            try:
                result = await self._client.infer(self.model, inputs,
                                                  outputs=[InferRequestedOutput(self.score_output)],
                                                  client_timeout=max(0.001, timeout - 0.02))
            except InferenceServerException as exc:
                status = (exc.status() or "").replace("StatusCode.", "")
                message = f"reranker model server ({self.model}): {exc.message()}"
                if status == "DEADLINE_EXCEEDED":
                    raise errors.DeadlineExceeded(message) from None
                if status == "UNAVAILABLE":
                    raise errors.Unavailable(message) from None
                raise errors.FailedPrecondition(message) from None
            array = result.as_numpy(self.score_output)
            if array is None:
                raise errors.FailedPrecondition(f"reranker model server ({self.model}) returned no "
                                                f"{self.score_output!r} output")
            array = np.asarray(array, dtype=np.float32).reshape(len(batch), -1)
            scores.extend(float(v) for v in array[:, -1])
        return scores
