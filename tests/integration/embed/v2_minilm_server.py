"""A small Open Inference Protocol v2 server for the Triton encoder test (run as its own process).

kserve's v2 data plane and gRPC servicer (the gRPC half of kserve's ModelServer, bound to loopback only,
without its REST server) serve all-MiniLM-L6-v2 under the tensor contract TritonEncoder speaks: BYTES
input "text" [n, 1] -> FP32 output "embedding" [n, 384]. kserve and tritonclient cannot share a process
(duplicate protobuf symbols), hence a separate process.

Usage: python v2_minilm_server.py PORT   (binds 127.0.0.1:PORT once the model is loaded)
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np


async def main(port: int) -> None:
    import grpc
    from kserve import InferOutput, InferRequest, InferResponse, Model, ModelRepository
    from kserve.protocol.dataplane import DataPlane
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
    from kserve.protocol.grpc.servicer import InferenceServicer
    from kserve.protocol.model_repository_extension import ModelRepositoryExtension

    from ragplane_embed.dense import InProcessEncoder

    class MiniLM(Model):
        def __init__(self) -> None:
            super().__init__("all-minilm-l6-v2")
            self.encoder = InProcessEncoder(torch_threads=1)

        def load(self) -> bool:
            self.encoder.start()
            self.ready = True
            return True

        async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
            raw = payload.inputs[0].as_numpy().reshape(-1)
            texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in raw]
            # The model runs in a thread: a synchronous predict would block the server's event loop.
            vectors = await asyncio.to_thread(self.encoder.encode, texts)
            output = InferOutput(name="embedding", shape=list(vectors.shape), datatype="FP32")
            output.set_data_from_numpy(np.ascontiguousarray(vectors, dtype=np.float32), binary_data=True)
            return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[output])

    model = MiniLM()
    model.load()
    repository = ModelRepository()
    repository.update(model)
    server = grpc.aio.server()
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(DataPlane(repository), ModelRepositoryExtension(repository)), server
    )
    # The port opens once the model is loaded, so a listening port means ready.
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
