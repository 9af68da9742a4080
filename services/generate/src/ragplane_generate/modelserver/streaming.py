"""ModelStreamInfer: decoupled token streaming on kserve's v2 gRPC service, which does not implement it.

The method is added as a generic handler for ``/inference.GRPCInferenceService/ModelStreamInfer`` beside
kserve's servicer. Requests are kserve's ``ModelInferRequest``; responses are ``ModelStreamInferResponse``
(declared in ``wire.py``, as kserve's proto does not have it).

As in Triton, a failing request is answered with ``error_message`` on the stream, and the stream stays open for
the caller's other requests. When the caller cancels the call (or its deadline passes), every generation it
started is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc_interceptor.exceptions import GrpcException
from kserve import InferRequest, ModelRepository
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

from ragplane.runtime.logs import get_logger
from ragplane_generate.modelserver.kserve_model import LlmModel
from ragplane_generate.modelserver.wire import ModelStreamInferResponse

log = get_logger(__name__)

SERVICE = "inference.GRPCInferenceService"
METHOD = "ModelStreamInfer"


def _error_text(exc: BaseException) -> str:
    """The message a stream error carries; kserve's and grpc_interceptor's exceptions keep it in attributes."""
    for attribute in ("reason", "error_msg", "details"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(exc) or type(exc).__name__


class StreamInferHandler:
    """Serves ModelStreamInfer from the models in a kserve ``ModelRepository``.

    Args:
        repository: where models are looked up by name.
    """

    def __init__(self, repository: ModelRepository) -> None:
        self._repository = repository

    def rpc_handler(self) -> grpc.GenericRpcHandler:
        """The generic handler to add to a grpc.aio server."""
        handler = grpc.stream_stream_rpc_method_handler(
            self.model_stream_infer,
            request_deserializer=pb.ModelInferRequest.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )
        return grpc.method_handlers_generic_handler(SERVICE, {METHOD: handler})

    async def _answer(self, request: pb.ModelInferRequest, put: Callable[[Any], Any]) -> None:
        """Generate for one request, putting its responses (or one error response) on the stream."""
        try:
            model = self._repository.get_model(request.model_name)
            if model is None:
                raise ModelNotFound(request.model_name)
            if not isinstance(model, LlmModel):
                raise InvalidInput(f"model {request.model_name!r} does not support streaming")
            async for response in model.stream(InferRequest.from_grpc(request)):
                await put(ModelStreamInferResponse(infer_response=response.to_grpc().SerializeToString()))
        except asyncio.CancelledError:
            raise
        except ModelNotFound:
            await put(
                ModelStreamInferResponse(
                    error_message=f"Request for unknown model: '{request.model_name}' is not found"
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported on the stream, as Triton does
            if not isinstance(exc, (InvalidInput, ModelNotReady, GrpcException)):
                log.warning("stream request failed", model=request.model_name, error=_error_text(exc))
            await put(ModelStreamInferResponse(error_message=_error_text(exc)))

    async def model_stream_infer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        """Read requests as they arrive, run them concurrently, and interleave their responses."""
        outbox: asyncio.Queue[Any] = asyncio.Queue()
        done = object()
        tasks: set[asyncio.Task] = set()

        async def read() -> None:
            try:
                async for request in request_iterator:
                    task = asyncio.create_task(self._answer(request, outbox.put))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                while tasks:
                    await asyncio.gather(*list(tasks), return_exceptions=True)
            finally:
                outbox.put_nowait(done)

        reader = asyncio.create_task(read())
        try:
            while True:
                item = await outbox.get()
                if item is done:
                    break
                yield item
        finally:
            reader.cancel()
            for task in list(tasks):
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(reader, *list(tasks), return_exceptions=True)
