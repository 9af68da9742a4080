"""Service lifecycle: settings -> logging/tracing -> core -> gRPC (health, reflection, interceptors) ->
warm up -> SERVING -> wait for SIGTERM -> NOT_SERVING -> drain -> stop background work.

A service implements ``Service``; ``run_service`` runs it as a process and ``start_service`` runs it
inside a test on port 0.

Listeners: plaintext, or TLS from RAGPLANE_TLS_CERT_FILE/_KEY_FILE (re-read when the files change; tls.py);
under mutual TLS a client-facing service adds RAGPLANE_GRPC_INTERNAL_LISTEN for internal callers, and
RAGPLANE_GRPC_HEALTH_LISTEN adds a plaintext listener with grpc.health.v1 only, for probes that speak no TLS.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from ragplane.runtime.auth import build_authenticator
from ragplane.runtime.interceptors import ServerInterceptor
from ragplane.runtime.logs import configure_logging, get_logger
from ragplane.runtime.services import DEFAULT_PORTS, is_internal, metrics_port_for
from ragplane.runtime.settings import CommonSettings
from ragplane.runtime.telemetry import configure_tracing, start_metrics_server
from ragplane.runtime.tls import check_tls, mutual_tls, server_credentials, server_tls_enabled

log = get_logger("ragplane.server")

SERVER_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
]


def server_options(settings: CommonSettings) -> list[tuple[str, int]]:
    """``SERVER_OPTIONS`` plus the connection age of ``settings``.

    Closing each connection after RAGPLANE_GRPC_MAX_CONNECTION_AGE_S (gRPC adds +-10% jitter, so callers do not
    reconnect in step) makes long-lived callers resolve the service's name again and spread their calls over
    replicas that started after they connected; calls in flight get the grace period to finish.
    """
    return [
        *SERVER_OPTIONS,
        ("grpc.max_connection_age_ms", int(settings.grpc_max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.grpc_max_connection_age_grace_s * 1000)),
    ]


class Service(Protocol):
    """What a ragplane service provides to the runtime."""

    name: str

    def register(self, server: grpc.aio.Server) -> list[str]:
        """Add servicers to ``server``; return their full service names (for health and reflection)."""

    async def start(self) -> None:
        """Warm up: load models, connect clients, start consumers. Runs after the port is bound."""

    async def stop(self) -> None:
        """Stop background work (consumers commit), close clients. Runs after RPCs have drained."""


class LivenessSource(Protocol):
    """Background work a service cannot do without (a Kafka consumer); ``up`` is False while it cannot run."""

    name: str

    @property
    def up(self) -> bool: ...


class WithLiveness(Protocol):
    """A service that also defines ``liveness()``: the runtime checks its sources every second while serving and
    reports health NOT_SERVING while any of them is down (SERVING again once all are up)."""

    def liveness(self) -> Iterable[LivenessSource]:
        """The sources now (consumers started in ``start()`` included)."""


@dataclass
class RunningService:
    service: Service
    server: grpc.aio.Server
    health: health_aio.HealthServicer
    port: int
    metrics_port: int | None
    service_names: list[str] = field(default_factory=list)
    grace_period_s: float = 10.0
    shutdown_delay_s: float = 0.0
    liveness_interval_s: float = 1.0
    # The listener of internal callers (mutual TLS) of a client-facing service, and the plaintext health-only one.
    internal_port: int | None = None
    health_port: int | None = None
    health_server: grpc.aio.Server | None = None
    _stopped: bool = False
    _watch: asyncio.Task | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def set_serving(self, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    def watch_liveness(self, service: WithLiveness) -> None:
        """Report health from ``service.liveness()`` until ``stop()`` (see ``WithLiveness``)."""
        self._watch = asyncio.create_task(self._follow_liveness(service), name=f"{self.service.name}-liveness")

    async def _follow_liveness(self, service: WithLiveness) -> None:
        serving = True
        while True:
            await asyncio.sleep(self.liveness_interval_s)
            down = [source.name for source in service.liveness() if not source.up]
            if serving == bool(down):  # it changed
                serving = not down
                if down:
                    log.error("background work down; NOT_SERVING", service=self.service.name, down=down)
                else:
                    log.info("background work up again; SERVING", service=self.service.name)
                await self.set_serving(serving)

    async def stop(self, grace_period_s: float | None = None) -> None:
        """NOT_SERVING, refuse new RPCs, let in-flight ones finish within the grace period, stop the core."""
        if self._stopped:
            return
        self._stopped = True
        if self._watch is not None:
            self._watch.cancel()
        grace = self.grace_period_s if grace_period_s is None else grace_period_s
        await self.set_serving(False)
        if self.shutdown_delay_s:
            await asyncio.sleep(self.shutdown_delay_s)
        log.info("draining", service=self.service.name, grace_period_s=grace)
        await self.server.stop(grace)
        if self.health_server is not None:
            await self.health_server.stop(0)
        await self.service.stop()
        log.info("stopped", service=self.service.name)


def _listen_address(settings: CommonSettings, service_name: str, port: int | None) -> str:
    if port is not None:
        return f"127.0.0.1:{port}"
    if settings.grpc_listen:
        return settings.grpc_listen
    return f"127.0.0.1:{DEFAULT_PORTS.get(service_name, 0)}"


def add_port(server: grpc.aio.Server, address: str, credentials: grpc.ServerCredentials | None, what: str) -> int:
    """Bind ``address`` (TLS with ``credentials``, plaintext without); the bound port.

    Raises:
        OSError: the address cannot be bound.
    """
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"{what}: cannot bind gRPC on {address}")
    return bound


def _bind(server: grpc.aio.Server, settings: CommonSettings, name: str, address: str) -> tuple[int, int | None]:
    """Bind the service's listeners; return the main port and the internal one (or None).

    Without a certificate: one plaintext listener. With one: TLS; under mutual TLS an internal service requires a
    client certificate on its listener, while a client-facing service keeps its listener for users (no client
    certificate) and serves internal callers on RAGPLANE_GRPC_INTERNAL_LISTEN with mutual TLS.
    """
    if not server_tls_enabled(settings):
        return add_port(server, address, None, name), None
    mutual = mutual_tls(settings)
    if is_internal(name):
        return add_port(server, address, server_credentials(settings, require_client_auth=mutual), name), None
    bound = add_port(server, address, server_credentials(settings, require_client_auth=False), name)
    if not (mutual and settings.grpc_internal_listen):
        if mutual:
            log.warning("no RAGPLANE_GRPC_INTERNAL_LISTEN: the service token is refused on every call", service=name)
        return bound, None
    internal = add_port(
        server,
        settings.grpc_internal_listen,
        server_credentials(settings, require_client_auth=True),
        f"{name} (internal listener)",
    )
    return bound, internal


async def health_listener(
    health: health_aio.HealthServicer, settings: CommonSettings, name: str
) -> tuple[grpc.aio.Server | None, int | None]:
    """A plaintext server of grpc.health.v1 alone on RAGPLANE_GRPC_HEALTH_LISTEN, for probes that speak no TLS.

    It shares the service's health servicer, so it reports exactly what the main listener reports; it carries no
    other RPC and no credentials.
    """
    if not settings.grpc_health_listen:
        return None, None
    server = grpc.aio.server(options=SERVER_OPTIONS)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = add_port(server, settings.grpc_health_listen, None, f"{name} (health listener)")
    await server.start()
    return server, port


async def start_service(
    service: Service, settings: CommonSettings, *, port: int | None = None, metrics: bool = True
) -> RunningService:
    """Bind, register health/reflection/interceptors, warm up, then serve RPCs and report SERVING.

    During warm-up the port is bound: health answers NOT_SERVING and every other RPC UNAVAILABLE
    "<service>: warming up" (the interceptor refuses them), so servicers need no readiness checks.

    Args:
        service: the service core.
        settings: its settings (CommonSettings or a subclass).
        port: bind 127.0.0.1 on this port instead of the configured address (0 picks a free port; tests).
        metrics: start the Prometheus endpoint.

    Raises:
        SettingsError: credentials refused while RAGPLANE_ALLOW_DEV_KEY is false (see auth.build_authenticator),
            or a TLS configuration that cannot work (tls.check_tls).
    """
    check_tls(settings)
    authenticator = build_authenticator(settings, service.name)
    interceptors: list[grpc.aio.ServerInterceptor] = []
    try:
        from opentelemetry.instrumentation.grpc import aio_server_interceptor

        interceptors.append(aio_server_interceptor())
    except ImportError:  # pragma: no cover
        pass
    gate = ServerInterceptor(service.name, authenticator, settings.default_deadline_s)
    interceptors.append(gate)
    server = grpc.aio.server(interceptors=interceptors, options=server_options(settings))
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = service.register(server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    address = _listen_address(settings, service.name, port)
    bound, internal_port = _bind(server, settings, service.name, address)
    health_server, health_port = await health_listener(health, settings, service.name)
    metrics_port = None
    if metrics:
        if port is not None:
            metrics_listen = "127.0.0.1:0"
        else:
            metrics_listen = settings.metrics_listen or f"127.0.0.1:{metrics_port_for(bound)}"
        metrics_port = start_metrics_server(metrics_listen)
    running = RunningService(
        service,
        server,
        health,
        bound,
        metrics_port,
        names,
        settings.grace_period_s,
        settings.shutdown_delay_s,
        internal_port=internal_port,
        health_port=health_port,
        health_server=health_server,
    )
    await running.set_serving(False)
    await server.start()
    log.info(
        "listening",
        service=service.name,
        port=bound,
        internal_port=internal_port,
        health_port=health_port,
        metrics_port=metrics_port,
        tls=server_tls_enabled(settings),
        mutual_tls=mutual_tls(settings),
    )
    try:
        await service.start()
    except BaseException:
        await server.stop(0)
        if health_server is not None:
            await health_server.stop(0)
        raise
    gate.mark_ready()
    await running.set_serving(True)
    if hasattr(service, "liveness"):
        running.watch_liveness(service)
    log.info("serving", service=service.name, port=bound)
    return running


def run_service(service: Service, settings: CommonSettings) -> None:
    """Process entry point: configure logging and tracing, serve until SIGTERM/SIGINT, drain, exit."""
    configure_logging(service.name, settings.log_level)
    configure_tracing(service.name, settings.otel_exporter)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        running = await start_service(service, settings)
        await stop.wait()
        log.info("signal received", service=service.name)
        await running.stop()

    asyncio.run(main())
