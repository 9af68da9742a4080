"""The model server process: kserve's v2 gRPC servicer plus ModelStreamInfer, health, metrics, lifecycle.

Start: bind gRPC (loopback by default, no REST) -> report NOT_SERVING -> resolve, verify and load the model in a
worker thread (``RAGPLANE_LLM_LOAD=startup``) -> SERVING. Until the model is loaded, ServerReady and ModelReady
answer false, inference answers UNAVAILABLE, and grpc.health.v1 says NOT_SERVING. A model that fails to load
ends the process with the reason (a server that can never become ready should not look alive).
SIGTERM: NOT_SERVING, drain within the grace period, free the model.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor

from ragplane.runtime.logs import configure_logging, get_logger
from ragplane.runtime.server import add_port, health_listener, server_options
from ragplane.runtime.services import metrics_port_for
from ragplane.runtime.telemetry import start_metrics_server
from ragplane.runtime.tls import check_tls, mutual_tls, server_credentials, server_tls_enabled
from ragplane_generate.models import resolve_model
from ragplane_generate.modelserver import metrics
from ragplane_generate.modelserver.config import ModelServerSettings, load
from ragplane_generate.modelserver.engine import EngineConfig, Finished, LlamaEngine
from ragplane_generate.modelserver.kserve_model import (
    LlmInferenceServicer,
    LlmModel,
    LlmRepository,
    LlmRepositoryExtension,
)
from ragplane_generate.modelserver.streaming import SERVICE, StreamInferHandler

log = get_logger("ragplane.modelserver")

DEFAULT_LISTEN = "127.0.0.1:50070"


class LlmDataPlane(DataPlane):
    """kserve's data plane, with ServerReady true only when every model is ready (Triton's meaning)."""

    def metadata(self) -> dict:
        data = super().metadata()
        data["name"] = "ragplane-modelserver"
        return data

    async def ready(self) -> bool:
        names = list(self.model_registry.get_models())
        if not names:
            return False
        for name in names:
            if not await self.model_registry.is_model_ready(name):
                return False
        return True


def _record(done: Finished) -> None:
    metrics.REQUESTS.labels(done.finish_reason).inc()
    metrics.TOKENS.labels("prompt").inc(done.prompt_tokens)
    metrics.TOKENS.labels("completion").inc(done.completion_tokens)
    metrics.QUEUE_WAIT.observe(done.queued_s)
    if done.ttft_s is not None:
        metrics.TTFT.observe(done.ttft_s)


@dataclass
class ModelServer:
    """A running model server (see the module doc for its lifecycle)."""

    settings: ModelServerSettings
    server: grpc.aio.Server
    health: health_aio.HealthServicer
    model: LlmModel
    port: int
    # The plaintext health-only listener (RAGPLANE_GRPC_HEALTH_LISTEN), for probes that speak no TLS.
    health_server: grpc.aio.Server | None = None
    health_port: int | None = None

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE):
            await self.health.set(name, status)

    async def stop(self) -> None:
        await self.set_serving(False)
        await self.server.stop(self.settings.grace_period_s)
        if self.health_server is not None:
            await self.health_server.stop(0)
        if self.model.ready:
            self.model.stop()


def build_model(settings: ModelServerSettings, loop: asyncio.AbstractEventLoop, on_ready_change) -> LlmModel:
    """The kserve model; resolving the file and loading happen in ``LlmModel.load``."""

    def engine_factory() -> LlamaEngine:
        path = resolve_model(
            settings.llm_model,
            Path(settings.model_cache).expanduser() if settings.model_cache else None,
            settings.models_dir,
            settings.llm_model_sha256,
        )
        log.info(
            "loading model",
            model=settings.llm_model,
            path=str(path),
            slots=settings.slots,
            threads=settings.threads_per_slot(),
            context_tokens=settings.context_tokens,
        )
        return LlamaEngine(
            EngineConfig(
                model_path=path,
                n_ctx=settings.context_tokens,
                threads=settings.threads_per_slot(),
                slots=settings.slots,
                max_queue=settings.max_queue,
                n_batch=settings.batch_tokens,
            ),
            on_finished=_record,
        )

    def ready_changed(ready: bool) -> None:
        metrics.READY.labels(settings.model_name).set(1 if ready else 0)
        loop.call_soon_threadsafe(on_ready_change, ready)

    return LlmModel(settings.model_name, engine_factory, settings.max_tokens, ready_changed)


async def start_model_server(settings: ModelServerSettings, *, metrics_enabled: bool = True) -> ModelServer:
    """Bind and start serving; the model loads in the background unless the load mode is explicit."""
    check_tls(settings)
    loop = asyncio.get_running_loop()
    health = health_aio.HealthServicer()
    serving_tasks: set[asyncio.Task] = set()
    holder: dict[str, ModelServer] = {}

    def on_ready_change(ready: bool) -> None:
        if "server" in holder:
            task = loop.create_task(holder["server"].set_serving(ready))
            serving_tasks.add(task)
            task.add_done_callback(serving_tasks.discard)

    model = build_model(settings, loop, on_ready_change)
    repository = LlmRepository()
    repository.update(model)
    data_plane = LlmDataPlane(repository)
    server = grpc.aio.server(interceptors=(ExceptionToStatusInterceptor(),), options=server_options(settings))
    grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        LlmInferenceServicer(data_plane, LlmRepositoryExtension(repository)), server
    )
    server.add_generic_rpc_handlers((StreamInferHandler(repository).rpc_handler(),))
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [SERVICE, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    address = settings.grpc_listen or DEFAULT_LISTEN
    # TLS from the mounted certificate when configured; under mutual TLS only callers with an internal client
    # certificate (generate) complete the handshake.
    credentials = (
        server_credentials(settings, require_client_auth=mutual_tls(settings)) if server_tls_enabled(settings) else None
    )
    port = add_port(server, address, credentials, "modelserver")
    health_server, health_port = await health_listener(health, settings, "modelserver")
    if metrics_enabled:
        metrics_listen = settings.metrics_listen or f"127.0.0.1:{metrics_port_for(port)}"
        metrics_port = start_metrics_server(metrics_listen)
    else:
        metrics_port = None
    running = ModelServer(settings, server, health, model, port, health_server, health_port)
    holder["server"] = running
    await running.set_serving(False)
    metrics.READY.labels(settings.model_name).set(0)
    await server.start()
    log.info(
        "listening",
        service="modelserver",
        port=port,
        health_port=health_port,
        tls=server_tls_enabled(settings),
        metrics_port=metrics_port,
        model_name=settings.model_name,
        load_mode=settings.load_mode,
    )
    return running


async def serve(settings: ModelServerSettings) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = await start_model_server(settings)
    code = 0
    if settings.load_mode == "startup":
        loading = asyncio.create_task(running.model.load_async())
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({loading, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if loading.done() and loading.exception() is not None:
            log.error("model failed to load; exiting", model=settings.llm_model, error=str(loading.exception()))
            stop.set()
            code = 1
        elif loading.done():
            log.info("serving", service="modelserver", model_name=settings.model_name)
        waiter.cancel()
    await stop.wait()
    log.info("signal received", service="modelserver")
    await running.stop()
    return code


def main() -> None:
    """Process entry point."""
    settings = load()
    configure_logging("modelserver", settings.log_level)
    code = asyncio.run(serve(settings))
    # Everything is stopped and released by now. Interpreter finalisation would then tear down llama.cpp's and
    # gRPC's native objects in module order, which now and then aborts the process ("terminate called without an
    # active exception", exit -6) after a clean drain; the exit code must say how the drain went.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
