"""gRPC servers inside the test process: a service's App behind the real runtime, or bare stand-in servicers.

``serve(app, settings)`` starts any ragplane App with ``start_service`` on port 0 (interceptors, health,
authentication, warm-up) and opens a channel to it; ``serve_bare`` runs stand-in servicers (a v2 inference server,
a peer) on a plain ``grpc.aio`` server, without the runtime's authentication, for clients that send none.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from ragplane.runtime.server import RunningService, Service, start_service
from ragplane.runtime.settings import CommonSettings

Stub = TypeVar("Stub")
# How generated code adds a servicer to a server: ``add_<Name>Servicer_to_server(servicer, server)``.
Registration = tuple[Callable[[Any, grpc.aio.Server], None], Any]


@dataclass
class Served:
    """A running service and an open channel to it."""

    running: RunningService
    channel: grpc.aio.Channel

    @property
    def address(self) -> str:
        return self.running.address

    @property
    def metrics_port(self) -> int | None:
        return self.running.metrics_port

    @property
    def app(self) -> Any:
        """The App the server runs (its collaborators, for assertions and test set-up)."""
        return self.running.service

    def stub(self, stub_type: Callable[[grpc.aio.Channel], Stub]) -> Stub:
        """A client stub of ``stub_type`` on the open channel."""
        return stub_type(self.channel)


@contextlib.asynccontextmanager
async def serve(
    app: Service, settings: CommonSettings, *, grace_s: float = 0.0, metrics: bool = False
) -> AsyncIterator[Served]:
    """Run ``app`` on 127.0.0.1, port 0, behind the real runtime until the block ends.

    Args:
        app: any ragplane App (``register``/``start``/``stop``).
        settings: its settings.
        grace_s: the drain grace period when the block ends.
        metrics: also start the Prometheus endpoint (tests that read metrics use the process registry instead).
    """
    running = await start_service(app, settings, port=0, metrics=metrics)
    channel = grpc.aio.insecure_channel(running.address)
    try:
        yield Served(running, channel)
    finally:
        await channel.close()
        await running.stop(grace_s)


class ServicerApp:
    """Stand-in servicers as an App, so that they run behind the real runtime (tenant metadata, service token)."""

    def __init__(self, name: str, registrations: Sequence[Registration]) -> None:
        self.name = name
        self._registrations = list(registrations)

    def register(self, server: grpc.aio.Server) -> list[str]:
        for add, servicer in self._registrations:
            add(servicer, server)
        return []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


@contextlib.asynccontextmanager
async def serve_bare(*registrations: Registration) -> AsyncIterator[str]:
    """Run stand-in servicers on a plain gRPC server (no runtime, no authentication); yield its address."""
    server = grpc.aio.server()
    for add, servicer in registrations:
        add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)
