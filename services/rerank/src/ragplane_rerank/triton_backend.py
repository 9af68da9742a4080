"""A cross-encoder served over the v2 inference protocol (Triton or any v2 server), through tritonclient.

Contract (names configurable): inputs ``query`` and ``passage``, BYTES, shape ``[n, 1]`` (one row per pair);
output ``score``, FP32, shape ``[n, 1]`` or ``[n]`` (a logit or probability; higher is more relevant). Models that
return two-class logits ``[n, 2]`` are read from their last column. Tokenisation happens on the server (for
example a Triton ensemble of a tokenizer and the ONNX/TensorRT cross-encoder).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragplane.runtime import errors
from ragplane.runtime.inference import InferenceClient
from ragplane.runtime.settings import CommonSettings
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

    def __init__(
        self,
        address: str,
        model: str,
        query_input: str = "query",
        passage_input: str = "passage",
        score_output: str = "score",
        batch_size: int = 64,
        timeout_s: float = 5.0,
        settings: CommonSettings | None = None,
    ) -> None:
        self.name = f"triton:{model}"
        self.address = address
        self.model = model
        self.query_input = query_input
        self.passage_input = passage_input
        self.score_output = score_output
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._client = InferenceClient(
            address, model, subject=f"reranker model server ({model})", timeout_s=timeout_s, settings=settings
        )

    def warm_up(self) -> None:
        # The aio channel is created on first use, inside the serving event loop.
        import tritonclient.grpc.aio  # noqa: F401 - fail at start when the client is missing

    async def close(self) -> None:
        await self._client.close()

    async def score(self, query: str, candidates: Sequence[Candidate]) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(candidates), self.batch_size):
            batch = candidates[start : start + self.batch_size]
            inputs = {
                self.query_input: np.array([[query.encode("utf-8")] for _ in batch], dtype=np.object_),
                self.passage_input: np.array([[_with_title(c).encode("utf-8")] for c in batch], dtype=np.object_),
            }
            result = await self._client.infer(inputs, [self.score_output])
            array = result.as_numpy(self.score_output)
            if array is None:
                raise errors.FailedPrecondition(
                    f"reranker model server ({self.model}) returned no {self.score_output!r} output"
                )
            array = np.asarray(array, dtype=np.float32).reshape(len(batch), -1)
            scores.extend(float(v) for v in array[:, -1])
        return scores
