"""A TCP proxy that can cut a dependency off: the fault tests put it between the services and Redis or the broker.

``TcpProxy(upstream).start()`` listens on a loopback port and pumps bytes both ways to ``upstream`` for every
connection. ``cut()`` closes every open connection and refuses new ones (accepted, then closed at once, as a
dependency that is down does) until ``restore()``. It runs its own event loop in a thread, so it keeps pumping
while the test's loop is busy, and ``cut``/``restore`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

CHUNK = 64 * 1024


class TcpProxy:
    """A loopback TCP proxy to ``upstream`` ("host:port") that can refuse service for a while.

    Args:
        upstream: where connections go.
        port: the port to listen on (a free one when 0; read it back from ``port`` after ``start``).
    """

    def __init__(self, upstream: str, port: int = 0) -> None:
        host, upstream_port = upstream.rsplit(":", 1)
        self._upstream = (host, int(upstream_port))
        self.port = port
        self.accepted = 0
        self.refused = 0
        self._cut = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcpproxy", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    def start(self) -> TcpProxy:
        """Listen and serve in the proxy's thread; returns once the port accepts connections."""
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        """Close every open connection and refuse new ones until ``restore()``."""
        self._cut.set()
        self._call(self._close_all())

    def restore(self) -> None:
        """Accept and forward connections again."""
        self._cut.clear()

    def stop(self) -> None:
        """Close the listener and every connection, and end the proxy's thread."""
        self._cut.set()
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    # -- in the proxy's loop ----------------------------------------------------------------------

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._cut.is_set():
            self.refused += 1
            client_writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self.accepted += 1
        self._writers.update((client_writer, upstream_writer))
        try:
            await self._relay(client_reader, client_writer, upstream_reader, upstream_writer)
        finally:
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _relay(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        """Pump one connection's bytes both ways until either side closes (a subclass may speak first)."""
        await asyncio.gather(
            _pump(client_reader, upstream_writer), _pump(upstream_reader, client_writer), return_exceptions=True
        )

    async def _close_all(self) -> None:
        # abort(), not close(): a dependency that goes down resets connections, it does not flush them.
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._close_all()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes from ``reader`` to ``writer`` until either side closes."""
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
