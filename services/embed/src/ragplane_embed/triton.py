"""Dense encoder over the Open Inference Protocol v2 (KServe / Triton gRPC API) through ``tritonclient``.

Tensor contract (names and width from settings): one BYTES input of shape [n, 1] holding UTF-8 texts, one
FP32 output of shape [n, dims]. That is the usual Triton deployment of a sentence encoder as an ensemble
(tokenizer in a Python backend + the transformer, e.g. ONNX/TensorRT) with ``max_batch_size > 0``. Texts
arrive already cut into model-sized windows (``windows.py``), so the server never truncates.

``tritonclient.grpc`` and ``kserve`` cannot be imported into one process (duplicate protobuf symbols):
this module imports tritonclient lazily and only when the Triton backend is selected.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ragplane.runtime.errors import FailedPrecondition, Internal, Unavailable
from ragplane.runtime.logs import get_logger

from ragplane_embed.dense import normalise

log = get_logger(__name__)

_RETRIABLE = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED")


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

    def __init__(self, url: str, model: str, input_name: str = "text", output_name: str = "embedding",
                 dimensions: int = 384, model_name: str = "", timeout_s: float = 10.0, batch_size: int = 32,
                 startup_timeout_s: float = 60.0) -> None:
        self.url = url
        self.model = model
        self.input_name = input_name
        self.output_name = output_name
        self.dimensions = dimensions
        self.model_name = model_name or model
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.startup_timeout_s = startup_timeout_s
        self._client = None

    def start(self) -> None:
        try:
            import tritonclient.grpc as grpcclient
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise ImportError("the Triton backend needs tritonclient: pip install 'tritonclient[grpc]'") from exc
        self._client = grpcclient.InferenceServerClient(url=self.url)
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            try:
                if self._client.is_server_live(client_timeout=self.timeout_s) and self._client.is_model_ready(
                        self.model, client_timeout=self.timeout_s):
                    break
                problem = f"model {self.model!r} not ready"
            except Exception as exc:  # noqa: BLE001 - any failure here means "not ready yet"
                problem = str(exc)
            if time.monotonic() > deadline:
                raise Unavailable(f"v2 server {self.url}: {problem} after {self.startup_timeout_s:.0f} s")
            time.sleep(0.5)
        probe = self._infer(["warm-up"])
        if probe.shape[1] != self.dimensions:
            raise FailedPrecondition(f"v2 model {self.model!r} returns {probe.shape[1]} dimensions, "
                                     f"RAGPLANE_EMBED_TRITON_DIMS says {self.dimensions}")
        log.info("dense encoder ready", backend="triton", url=self.url, model=self.model)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._client is None:
            raise RuntimeError("TritonEncoder.encode called before start()")
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = [self._infer(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]
        vectors = np.concatenate(parts, axis=0)
        if vectors.shape[1] != self.dimensions:
            raise Internal(f"v2 model {self.model!r} returned {vectors.shape[1]} dimensions, "
                           f"expected {self.dimensions}")
        return normalise(vectors)

    def _infer(self, texts: Sequence[str]) -> np.ndarray:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        data = np.array([t.encode("utf-8") for t in texts], dtype=np.object_).reshape(len(texts), 1)
        tensor = grpcclient.InferInput(self.input_name, list(data.shape), "BYTES")
        tensor.set_data_from_numpy(data)
        try:
            result = self._client.infer(self.model, [tensor],
                                        outputs=[grpcclient.InferRequestedOutput(self.output_name)],
                                        client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            status = str(exc.status() or "")
            message = f"v2 model {self.model!r} at {self.url}: {exc.message()}"
            if any(code in status for code in _RETRIABLE):
                raise Unavailable(message) from None
            raise Internal(message) from None
        vectors = result.as_numpy(self.output_name)
        if vectors is None or vectors.ndim != 2 or vectors.shape[0] != len(texts):
            shape = None if vectors is None else vectors.shape
            raise Internal(f"v2 model {self.model!r}: output {self.output_name!r} has shape {shape}, "
                           f"expected ({len(texts)}, dims)")
        return vectors

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
