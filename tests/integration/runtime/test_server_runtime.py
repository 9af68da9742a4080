"""The service runtime driven through real gRPC servers on loopback: auth, errors, deadlines, health,
reflection (with the real grpcurl), tracing across a gRPC hop, and graceful drain."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ragplane.runtime import errors
from ragplane.runtime.clients import service_channel
from ragplane.runtime.context import current_tenant
from ragplane.runtime.interceptors import remaining_time
from ragplane.runtime.server import start_service
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.runtime.telemetry import configure_tracing
from ragplane.v1 import common_pb2, embed_pb2, embed_pb2_grpc, generate_pb2, generate_pb2_grpc

pytestmark = pytest.mark.integration

SPANS = InMemorySpanExporter()
configure_tracing("runtime-tests", span_exporter=SPANS)
if isinstance(trace.get_tracer_provider(), TracerProvider):
    # Another test module may have installed the process's provider first: record its spans too.
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(SPANS))

USER = [("authorization", "Bearer user-key")]


class _EmbedProbe(embed_pb2_grpc.EmbedServiceServicer):
    """Test servicer: each input text selects a behaviour so the interceptor's handling can be observed."""

    def __init__(self, app: _App) -> None:
        self.app = app

    async def Embed(self, request, context):
        command = request.texts[0] if request.texts else ""
        if not request.texts:
            raise errors.InvalidArgument("texts", "must contain at least one text")
        if command == "boom":
            raise RuntimeError("secret internal detail")
        if command == "quota":
            raise errors.ResourceExhausted("token budget used up", retry_after_s=2.5)
        if command.startswith("sleep:"):
            await asyncio.sleep(float(command.split(":")[1]))
        if command == "whoami":
            return embed_pb2.EmbedResponse(dense_model=current_tenant())
        if command == "remaining":
            return embed_pb2.EmbedResponse(dense_model=f"{remaining_time():.3f}")
        if command == "forward":
            async with service_channel(self.app.peer, self.app.settings.service_token) as channel:
                reply = await embed_pb2_grpc.EmbedServiceStub(channel).Embed(
                    embed_pb2.EmbedRequest(texts=["remaining-and-tenant"])
                )
            return reply
        if command == "remaining-and-tenant":
            return embed_pb2.EmbedResponse(dense_model=f"{current_tenant()}|{remaining_time():.3f}")
        return embed_pb2.EmbedResponse(dimensions=len(request.texts))


class _GenerateProbe(generate_pb2_grpc.GenerateServiceServicer):
    async def GenerateStream(self, request, context):
        for word in ("one", "two"):
            yield generate_pb2.GenerateStreamResponse(delta=word)
        if request.query == "fail-midway":
            raise errors.Unavailable("model server went away")
        yield generate_pb2.GenerateStreamResponse(result=generate_pb2.GenerationResult(text="one two"))


@dataclass
class _App:
    settings: CommonSettings
    name: str = "probe"
    peer: str = ""
    warm: asyncio.Event = field(default_factory=asyncio.Event)
    started: bool = False
    stopped: bool = False

    def register(self, server):
        embed_pb2_grpc.add_EmbedServiceServicer_to_server(_EmbedProbe(self), server)
        generate_pb2_grpc.add_GenerateServiceServicer_to_server(_GenerateProbe(), server)
        return ["ragplane.v1.EmbedService", "ragplane.v1.GenerateService"]

    async def start(self):
        await self.warm.wait()
        self.started = True

    async def stop(self):
        self.stopped = True


def _settings(**overrides) -> CommonSettings:
    return load_settings(
        CommonSettings,
        {},
        api_keys="user-key=acme,other-key=globex",
        service_token="svc-token",
        **{"allow_dev_key": True, **overrides},
    )


async def _start(**overrides):
    app = _App(_settings(**overrides))
    app.warm.set()
    running = await start_service(app, app.settings, port=0)
    return app, running


async def _embed(address, texts, metadata=USER, timeout=5.0):
    async with grpc.aio.insecure_channel(address) as channel:
        return await embed_pb2_grpc.EmbedServiceStub(channel).Embed(
            embed_pb2.EmbedRequest(texts=texts), metadata=metadata, timeout=timeout
        )


async def test_request_without_credentials_is_unauthenticated():
    _, running = await _start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(running.address, ["x"], metadata=[])
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(running.address, ["x"], metadata=[("authorization", "Bearer wrong")])
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await running.stop(0)


async def test_api_key_selects_the_tenant():
    _, running = await _start()
    try:
        assert (await _embed(running.address, ["whoami"])).dense_model == "acme"
        other = await _embed(running.address, ["whoami"], metadata=[("authorization", "Bearer other-key")])
        assert other.dense_model == "globex"
        spoof = await _embed(running.address, ["whoami"], metadata=[*USER, ("x-ragplane-tenant", "globex")])
        assert spoof.dense_model == "acme"
    finally:
        await running.stop(0)


async def test_domain_errors_map_to_status_codes_with_readable_messages():
    _, running = await _start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(running.address, [])
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details() == "texts: must contain at least one text"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(running.address, ["quota"])
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert ("retry-after", "2.500") in tuple(caught.value.trailing_metadata())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(running.address, ["boom"])
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        assert "secret internal detail" not in caught.value.details()
        assert "request_id=" in caught.value.details()
    finally:
        await running.stop(0)


async def test_unimplemented_rpc_reports_unimplemented():
    _, running = await _start()
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await generate_pb2_grpc.GenerateServiceStub(channel).Generate(
                    generate_pb2.GenerateRequest(query="q"), metadata=USER, timeout=5
                )
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await running.stop(0)


async def test_streaming_errors_are_mapped_after_partial_output():
    _, running = await _start()
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = generate_pb2_grpc.GenerateServiceStub(channel)
            received = []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for message in stub.GenerateStream(
                    generate_pb2.GenerateStreamRequest(query="fail-midway"), metadata=USER, timeout=5
                ):
                    received.append(message.delta)
            assert received == ["one", "two"]
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
            ok = [
                m
                async for m in stub.GenerateStream(
                    generate_pb2.GenerateStreamRequest(query="fine"), metadata=USER, timeout=5
                )
            ]
            assert ok[-1].result.text == "one two"
    finally:
        await running.stop(0)


async def test_caller_deadline_is_enforced():
    _, running = await _start()
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(running.address, ["sleep:2"], timeout=0.3)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        await running.stop(0)


async def test_default_deadline_applies_when_caller_sets_none():
    _, running = await _start(default_deadline_s=0.3)
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await embed_pb2_grpc.EmbedServiceStub(channel).Embed(
                    embed_pb2.EmbedRequest(texts=["sleep:2"]), metadata=USER
                )
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        reply = await _embed(running.address, ["remaining"], timeout=None)
        assert 0 < float(reply.dense_model) <= 0.3
    finally:
        await running.stop(0)


async def test_service_calls_forward_tenant_and_remaining_deadline():
    _, downstream = await _start()
    app, upstream = await _start()
    app.peer = downstream.address
    try:
        reply = await _embed(upstream.address, ["forward"], timeout=2.0)
        tenant, remaining = reply.dense_model.split("|")
        assert tenant == "acme"
        assert 0 < float(remaining) < 2.0
    finally:
        await upstream.stop(0)
        await downstream.stop(0)


async def test_trace_continues_across_a_grpc_hop():
    _, downstream = await _start()
    app, upstream = await _start()
    app.peer = downstream.address
    SPANS.clear()
    try:
        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span("client-root") as root:
            async with grpc.aio.insecure_channel(upstream.address) as channel:
                from opentelemetry import propagate

                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                await embed_pb2_grpc.EmbedServiceStub(channel).Embed(
                    embed_pb2.EmbedRequest(texts=["forward"]), metadata=[*USER, *carrier.items()], timeout=5
                )
            trace_id = root.get_span_context().trace_id
        trace.get_tracer_provider().force_flush()
        # When this module installed the provider, SPANS is behind two processors: count each span once.
        in_trace = list(
            {s.context.span_id: s for s in SPANS.get_finished_spans() if s.context.trace_id == trace_id}.values()
        )
        server_spans = [s for s in in_trace if s.kind == trace.SpanKind.SERVER]
        client_spans = [s for s in in_trace if s.kind == trace.SpanKind.CLIENT]
        # upstream's server span, its client call to downstream, and downstream's server span: one trace
        assert len(server_spans) == 2 and len(client_spans) == 1
    finally:
        await upstream.stop(0)
        await downstream.stop(0)


async def _health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="ragplane.v1.EmbedService"), timeout=2
        )
    return reply.status


async def _stream_error(address: str) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = generate_pb2_grpc.GenerateServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.GenerateStream(generate_pb2.GenerateStreamRequest(query="q"), metadata=USER, timeout=5):
                pass
    return caught.value


async def test_calls_during_warm_up_are_unavailable_and_health_not_serving_until_start_finished():
    from ragplane.cli.infra import free_port

    app = _App(_settings())
    port = free_port()
    starting = asyncio.create_task(start_service(app, app.settings, port=port))
    await asyncio.sleep(0.3)
    assert not starting.done()
    # The port is bound before warm-up: probes see NOT_SERVING, and calls are refused by the runtime,
    # not by the servicers (which would otherwise meet collaborators that are not started).
    address = f"127.0.0.1:{port}"
    running = None
    try:
        assert await _health(address) == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(address, ["whoami"])
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert caught.value.details() == "probe: warming up"
        streamed = await _stream_error(address)
        assert (streamed.code(), streamed.details()) == (grpc.StatusCode.UNAVAILABLE, "probe: warming up")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _embed(address, ["whoami"], metadata=[])
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        app.warm.set()
        running = await starting
        assert await _health(running.address) == health_pb2.HealthCheckResponse.SERVING
        assert (await _embed(running.address, ["whoami"])).dense_model == "acme"
    finally:
        app.warm.set()
        running = running or await starting
        await running.stop(0)


async def test_shutdown_reports_not_serving_drains_in_flight_calls_and_refuses_new_ones():
    app, running = await _start(shutdown_delay_s=0.4)
    in_flight = asyncio.create_task(_embed(running.address, ["sleep:0.8"], timeout=5))
    await asyncio.sleep(0.2)
    stopping = asyncio.create_task(running.stop(grace_period_s=5))
    await asyncio.sleep(0.1)
    async with grpc.aio.insecure_channel(running.address) as channel:
        status = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
    reply = await in_flight
    await stopping
    assert reply.dimensions == 1
    assert app.stopped
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _embed(running.address, ["x"], timeout=1)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def _grpcurl() -> str:
    path = shutil.which("grpcurl") or str(__import__("pathlib").Path(sys.executable).parent / "grpcurl")
    return path


async def test_grpcurl_lists_services_through_reflection_and_checks_health():
    _, running = await _start()
    try:
        listed = await asyncio.to_thread(
            subprocess.run,
            [_grpcurl(), "-plaintext", running.address, "list"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert listed.returncode == 0, listed.stderr
        services = set(listed.stdout.split())
        assert {"ragplane.v1.EmbedService", "ragplane.v1.GenerateService", "grpc.health.v1.Health"} <= services
        health = await asyncio.to_thread(
            subprocess.run,
            [_grpcurl(), "-plaintext", running.address, "grpc.health.v1.Health/Check"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert json.loads(health.stdout)["status"] == "SERVING"
        described = await asyncio.to_thread(
            subprocess.run,
            [_grpcurl(), "-plaintext", running.address, "describe", "ragplane.v1.EmbedRequest"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "repeated string texts = 1;" in described.stdout
        denied = await asyncio.to_thread(
            subprocess.run,
            [_grpcurl(), "-plaintext", "-d", '{"texts": ["x"]}', running.address, "ragplane.v1.EmbedService/Embed"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "Unauthenticated" in denied.stdout + denied.stderr
    finally:
        await running.stop(0)


def test_provenance_messages_round_trip():
    chunk = common_pb2.Chunk(chunk_id="c1", text="t", provenance=common_pb2.Provenance(doc_id="d", page=3))
    assert common_pb2.Chunk.FromString(chunk.SerializeToString()).provenance.page == 3


async def test_process_drains_on_sigterm_and_exits_cleanly(tmp_path):
    import signal
    from pathlib import Path

    from support.processes import free_port, start_process

    port = free_port()
    app_file = Path(__file__).with_name("sigterm_app.py")
    server = start_process([sys.executable, str(app_file), str(port)], tmp_path / "sigterm-app.log", port=port)
    try:
        await asyncio.to_thread(server.wait_for, "SERVING", 30)
        slow = asyncio.create_task(_embed(server.address, ["1.0"], metadata=[("authorization", "Bearer dev-key")]))
        await asyncio.sleep(0.3)
        server.process.send_signal(signal.SIGTERM)
        reply = await slow
        assert reply.dimensions == 7
        assert await asyncio.to_thread(server.process.wait, 15) == 0
        assert "stopped cleanly" in server.log_tail()
    finally:
        server.stop(5)


@pytest.mark.parametrize("overrides", [{"api_keys": "dev-key=default"}, {"service_token": "dev-service-token"}])
async def test_production_mode_refuses_development_credentials(overrides):
    from ragplane.runtime.settings import SettingsError

    settings = load_settings(
        CommonSettings, {}, **{"api_keys": "k=t", "service_token": "s3cret", **overrides}, allow_dev_key=False
    )
    app = _App(settings)
    app.warm.set()
    with pytest.raises(SettingsError, match="RAGPLANE_ALLOW_DEV_KEY"):
        await start_service(app, settings, port=0, metrics=False)
