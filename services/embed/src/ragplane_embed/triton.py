"""Dense encoder over the Open Inference Protocol v2 (KServe / Triton gRPC API) through ``tritonclient``.

Tensor contract (names and width from settings): one BYTES input of shape [n, 1] holding UTF-8 texts, one
FP32 output of shape [n, dims]. That is the usual Triton deployment of a sentence encoder as an ensemble
(tokenizer in a Python backend + the transformer, e.g. ONNX/TensorRT) with ``max_batch_size > 0``. Texts
arrive already cut into model-sized windows (``windows.py``), so the server never truncates.

Calls go through the runtime's v2 client (``ragplane.runtime.inference``), which imports tritonclient only when
the backend starts (``tritonclient.grpc`` and ``kserve`` cannot be imported into one process).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ragplane.runtime.errors import FailedPrecondition, Internal, Unavailable
from ragplane.runtime.inference import BlockingInferenceClient
from ragplane.runtime.logs import get_logger
from ragplane.runtime.retry import Backoff, retry_call
from ragplane.runtime.settings import CommonSettings
from ragplane_embed.dense import normalise

log = get_logger(__name__)


class TritonEncoder:
    """Calls a v2-protocol model server for dense embeddings.

    Args:
        url: host:port of the server's gRPC endpoint.
        model: model name on the server.
        input_name / output_name: tensor names.
        dimensions: width of the output rows.
        model_name: the name reported to callers (the model the server runs).
        timeout_s: deadline of each call.
        batch_size: texts per inference request.
        startup_timeout_s: how long ``start`` waits for the server and the model to be ready.
    """

    def __init__(
        self,
        url: str,
        model: str,
        input_name: str = "text",
        output_name: str = "embedding",
        dimensions: int = 384,
        model_name: str = "",
        timeout_s: float = 10.0,
        batch_size: int = 32,
        startup_timeout_s: float = 60.0,
        settings: CommonSettings | None = None,
    ) -> None:
        self.url = url
        self.model = model
        self.input_name = input_name
        self.output_name = output_name
        self.dimensions = dimensions
        self.model_name = model_name or model
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.startup_timeout_s = startup_timeout_s
        self._client = BlockingInferenceClient(
            url, model, subject=f"v2 model {model!r} at {url}", timeout_s=timeout_s, settings=settings
        )
        self._started = False

    def start(self) -> None:
        try:
            import tritonclient.grpc  # noqa: F401 - fail at start when the client is missing
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ImportError("the Triton backend needs tritonclient: pip install 'tritonclient[grpc]'") from exc
        # The server may still be loading the model: wait for it, up to the startup timeout.
        retry_call(
            self._client.ready,
            Backoff(base_s=0.1, cap_s=1.0, attempts=None),
            retriable=lambda exc: isinstance(exc, Unavailable),
            deadline=time.monotonic() + self.startup_timeout_s,
            what=f"wait for {self.model!r}",
        )
        self._started = True
        probe = self._infer(["warm-up"])
        if probe.shape[1] != self.dimensions:
            raise FailedPrecondition(
                f"v2 model {self.model!r} returns {probe.shape[1]} dimensions, "
                f"RAGPLANE_EMBED_TRITON_DIMS says {self.dimensions}"
            )
        log.info("dense encoder ready", backend="triton", url=self.url, model=self.model)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not self._started:
            raise RuntimeError("TritonEncoder.encode called before start()")
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = [self._infer(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        vectors = np.concatenate(parts, axis=0)
        if vectors.shape[1] != self.dimensions:
            raise Internal(
                f"v2 model {self.model!r} returned {vectors.shape[1]} dimensions, expected {self.dimensions}"
            )
        return normalise(vectors)

    def _infer(self, texts: Sequence[str]) -> np.ndarray:
        data = np.array([t.encode("utf-8") for t in texts], dtype=np.object_).reshape(len(texts), 1)
        result = self._client.infer({self.input_name: data}, [self.output_name])
        vectors = result.as_numpy(self.output_name)
        if vectors is None or vectors.ndim != 2 or vectors.shape[0] != len(texts):
            shape = None if vectors is None else vectors.shape
            raise Internal(
                f"v2 model {self.model!r}: output {self.output_name!r} has shape {shape}, expected ({len(texts)}, dims)"
            )
        return vectors

    def close(self) -> None:
        self._client.close()
        self._started = False
