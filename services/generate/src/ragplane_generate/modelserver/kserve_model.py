"""The LLM as a ``kserve.Model``: load/ready lifecycle, metadata, and inference over the ensemble contract.

kserve's data plane serves ModelReady, ModelMetadata and ModelInfer from this class; ``stream`` feeds the
ModelStreamInfer handler (``streaming.py``), which kserve lacks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

from grpc_interceptor.exceptions import ResourceExhausted
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelRepository
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension

from ragplane_generate.modelserver import contract
from ragplane_generate.modelserver.engine import (
    EngineNotReady,
    Finished,
    LlamaEngine,
    PromptTooLong,
    QueueFull,
    TextChunk,
)
from ragplane_generate.modelserver.wire import repository_model_name


class NotReady(ModelNotReady):
    """ModelNotReady with the ``reason`` attribute kserve's status interceptor reads (UNAVAILABLE)."""

    def __init__(self, model_name: str, detail: str | None = None) -> None:
        super().__init__(model_name, detail)
        self.reason = self.error_msg


class LlmModel(Model):
    """A llama.cpp instruct model served under one v2 model name with the TensorRT-LLM ensemble contract.

    Not ready until ``load_async`` has finished; until then inference answers UNAVAILABLE.

    Args:
        name: the v2 model name (``ensemble``).
        engine_factory: builds the engine (resolves and verifies the model file; called by ``load_async``).
        max_tokens_limit: the most tokens one request may ask for.
        on_ready_change: called with the new ready state after a load or an unload.
    """

    def __init__(
        self,
        name: str,
        engine_factory: Callable[[], LlamaEngine],
        max_tokens_limit: int,
        on_ready_change: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(name)
        self._engine_factory = engine_factory
        self._llm: LlamaEngine | None = None
        self._max_tokens_limit = max_tokens_limit
        self._load_lock = threading.Lock()
        self._on_ready_change = on_ready_change
        self.load_error: BaseException | None = None

    def load(self) -> bool:
        """kserve's load hook; returns whether the model is ready, without loading.

        kserve's data plane calls it on the event loop for a model that is not ready, on every inference. Loading
        takes seconds, so it happens only in ``load_async`` (at start, or on RepositoryModelLoad).
        """
        return self.ready

    def _load_blocking(self) -> bool:
        """Resolve the model file and load it (seconds). Concurrent calls wait for the first one."""
        with self._load_lock:
            if self.ready:
                return True
            try:
                engine = self._engine_factory()
                engine.load()
            except BaseException as exc:
                self.load_error = exc
                raise
            self._llm = engine
            self.ready = True
            self.load_error = None
        if self._on_ready_change is not None:
            self._on_ready_change(True)
        return True

    async def load_async(self) -> bool:
        """Load in a worker thread, so the event loop keeps answering health and readiness calls."""
        return await asyncio.get_running_loop().run_in_executor(None, self._load_blocking)

    def stop(self) -> None:
        """Unload: not ready at once; the contexts are freed in a background thread once running requests end.

        A later ``load_async`` loads again.
        """
        self.ready = False
        engine, self._llm = self._llm, None
        if engine is not None:
            threading.Thread(target=engine.close, name="llm-unload", daemon=True).start()
        if self._on_ready_change is not None:
            self._on_ready_change(False)

    def get_input_types(self) -> list[dict]:
        return [dict(item) for item in contract.INPUTS]

    def get_output_types(self) -> list[dict]:
        return [dict(item) for item in contract.OUTPUTS]

    def _parse(self, payload: InferRequest) -> contract.GenerationRequest:
        if not self.ready or self._llm is None:
            raise NotReady(self.name, "the model is loading or unloaded")
        try:
            tensors = {tensor.name: tensor.as_numpy() for tensor in payload.inputs}
            return contract.parse_request(tensors, self._max_tokens_limit)
        except contract.ContractError as exc:
            raise InvalidInput(str(exc)) from None

    async def _events(self, request: contract.GenerationRequest) -> AsyncIterator[TextChunk | Finished]:
        assert self._llm is not None
        try:
            async for event in self._llm.generate(request):
                yield event
        except QueueFull as exc:
            raise ResourceExhausted(str(exc)) from None
        except PromptTooLong as exc:
            raise InvalidInput(f"{contract.TEXT_INPUT}: {exc}") from None
        except EngineNotReady as exc:
            raise NotReady(self.name, str(exc)) from None

    def _response(
        self, payload: InferRequest, text: str, done: Finished | None, final: bool | None = None
    ) -> InferResponse:
        if done is None:
            arrays = contract.output_arrays(text)
        else:
            arrays = contract.output_arrays(text, done.prompt_tokens, done.completion_tokens, done.finish_reason)
        outputs = []
        for spec in contract.OUTPUTS:
            array = arrays.get(spec["name"])
            if array is None:
                continue
            output = InferOutput(name=spec["name"], shape=list(array.shape), datatype=spec["datatype"])
            output.set_data_from_numpy(array, binary_data=True)
            outputs.append(output)
        parameters = None if final is None else {contract.FINAL_RESPONSE_PARAMETER: final}
        return InferResponse(
            response_id=payload.id or "", model_name=self.name, infer_outputs=outputs, parameters=parameters
        )

    async def predict(
        self,
        payload: InferRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferResponse:
        """Generate the whole answer (ModelInfer). A ``stream`` flag is ignored: ModelInfer has one response."""
        request = self._parse(payload)
        pieces: list[str] = []
        done: Finished | None = None
        async for event in self._events(request):
            if isinstance(event, TextChunk):
                pieces.append(event.text)
            else:
                done = event
        return self._response(payload, "".join(pieces), done)

    async def stream(self, payload: InferRequest) -> AsyncIterator[InferResponse]:
        """Decoupled responses for ModelStreamInfer.

        With ``stream`` true: one response per text chunk (``triton_final_response`` false), then a final one with
        empty text, the token counts and the finish reason (``triton_final_response`` true). With ``stream`` false:
        one final response with the whole text.
        """
        request = self._parse(payload)
        pieces: list[str] = []
        async for event in self._events(request):
            if isinstance(event, TextChunk):
                if request.stream:
                    yield self._response(payload, event.text, None, final=False)
                else:
                    pieces.append(event.text)
            else:
                yield self._response(payload, "".join(pieces), event, final=True)


class LlmInferenceServicer(InferenceServicer):
    """kserve's v2 servicer, reading RepositoryModelLoad/Unload requests in Triton's layout as well as kserve's."""

    async def RepositoryModelLoad(self, request, context):  # noqa: N802 - gRPC method name
        name = repository_model_name(request)
        await self._mode_repository_extension.load(model_name=name)
        return pb.RepositoryModelLoadResponse(model_name=name, isLoaded=True)

    async def RepositoryModelUnload(self, request, context):  # noqa: N802 - gRPC method name
        name = repository_model_name(request)
        await self._mode_repository_extension.unload(model_name=name)
        return pb.RepositoryModelUnloadResponse(model_name=name, isUnloaded=True)


class LlmRepositoryExtension(ModelRepositoryExtension):
    """kserve's repository extension, reporting load failures as UNAVAILABLE with their reason.

    kserve's own raises a ``ModelNotReady`` without the ``reason`` its status interceptor reads, which surfaces
    as UNKNOWN with an AttributeError instead of the cause.
    """

    async def load(self, model_name: str) -> None:
        model = self._model_registry.get_model(model_name)
        if model is None:
            raise ModelNotFound(model_name)
        try:
            await self._model_registry.load(model_name)
        except Exception as exc:  # noqa: BLE001 - reported to the caller with its cause
            raise NotReady(model_name, f"loading failed: {exc}") from exc
        if not await self._model_registry.is_model_ready(model_name):
            raise NotReady(model_name)


class LlmRepository(ModelRepository):
    """kserve's model repository, with explicit load (RepositoryModelLoad) and an unload that keeps the name.

    Unloading leaves the model listed and not ready (as Triton does), instead of forgetting it.
    """

    async def load(self, name: str) -> bool:  # type: ignore[override]
        model = self.get_model(name)
        if not isinstance(model, LlmModel):
            raise ModelNotFound(name)
        return await model.load_async()

    def unload(self, name: str) -> None:
        model = self.get_model(name)
        if model is None:
            raise KeyError(name)
        model.stop()
