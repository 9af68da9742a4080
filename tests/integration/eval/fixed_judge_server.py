"""A fixed-format judge model served by kserve over v2 gRPC, for the protocol path test of V2Judge.

Not a real LLM: whatever the prompt, it answers with the same judgement (claim 1 supported, claim 2 not,
passage 1 relevant, passage 2 not, relevance 4), after checking that the request follows the generator's tensor
contract (text_input BYTES [1, 1], max_tokens INT32, temperature FP32). It appends each prompt it receives to a
file so the test can see what the judge sent. It runs in its own process because kserve and tritonclient cannot
be imported into one process.

Usage: python fixed_judge_server.py PORT PROMPT_LOG   (binds 127.0.0.1:PORT)
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np
from grpc import aio
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelRepository
from kserve.errors import InvalidInput
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension

MODEL_NAME = "fixed-judge"
JUDGEMENT = "CLAIM 1: YES\nCLAIM 2: NO\nPASSAGE 1: YES\nPASSAGE 2: NO\nRELEVANCE: 4\n"


class FixedJudge(Model):
    def __init__(self, name: str, prompt_log: str) -> None:
        super().__init__(name)
        self.prompt_log = prompt_log
        self.ready = True

    def load(self) -> bool:
        return self.ready

    async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        tensors = {tensor.name: tensor for tensor in payload.inputs}
        for name, datatype in (("text_input", "BYTES"), ("max_tokens", "INT32"), ("temperature", "FP32")):
            if name not in tensors or tensors[name].datatype != datatype:
                raise InvalidInput(f"{name}: expected a {datatype} tensor")
        prompt = tensors["text_input"].as_numpy().reshape(-1)[0]
        text = prompt.decode("utf-8") if isinstance(prompt, bytes) else str(prompt)
        with open(self.prompt_log, "a", encoding="utf-8") as handle:
            handle.write(text + "\n=====\n")
        output = InferOutput(name="text_output", shape=[1, 1], datatype="BYTES")
        output.set_data_from_numpy(np.array([[JUDGEMENT.encode()]], dtype=np.object_), binary_data=True)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[output])


async def main(port: int, prompt_log: str) -> None:
    repository = ModelRepository()
    repository.update(FixedJudge(MODEL_NAME, prompt_log))
    server = aio.server(interceptors=(ExceptionToStatusInterceptor(),))
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(DataPlane(repository), ModelRepositoryExtension(repository)), server
    )
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
