"""The real autoscaler operator under kopf's KopfRunner, its settings for tests, and Prometheus gauges on loopback
standing in for Triton's metrics page."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.cluster import NAMESPACE
from support.processes import free_port


class Gauges:
    """Prometheus gauges on a loopback metrics page."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.registry = CollectorRegistry()
        self._gauges: dict[str, Any] = {}
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.url = f"http://127.0.0.1:{self._server.server_port}/metrics"

    def set(self, name: str, value: float) -> None:
        from prometheus_client import Gauge

        if name not in self._gauges:
            self._gauges[name] = Gauge(name, f"test gauge {name}", registry=self.registry)
        self._gauges[name].set(value)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def operator_settings(kubeconfig: str, **overrides: Any):
    """Operator settings for one test namespace, a fast loop and a free metrics port."""
    from ragplane_autoscaler.settings import Settings

    base = dict(
        namespaces=(NAMESPACE,),
        interval_s=0.5,
        signal_timeout_s=2.0,
        kubeconfig=kubeconfig,
        metrics_port=free_port(),
        liveness_endpoint="",
        log_format="plain",
        signal_hosts=("127.0.0.1",),  # the loopback metrics pages tests serve
    )
    base.update(overrides)
    return Settings(**base)


@contextlib.contextmanager
def operator(settings) -> Iterator[Any]:
    """Run the real operator (kopf, standalone) until the block ends."""
    from kopf.testing import KopfRunner

    from ragplane_autoscaler.handlers import build_registry

    args = ["run", "--standalone", "--namespace", settings.namespaces[0]]
    records = LogRecords()
    logging.getLogger().addHandler(records)
    try:
        with KopfRunner(args, registry=build_registry(settings), timeout=60) as runner:
            yield records
    finally:
        logging.getLogger().removeHandler(records)
    assert runner.exit_code == 0, runner.output


class LogRecords(logging.Handler):
    """Collects the operator's log messages (kopf logs to the process's stderr, not the runner's output)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that answers with ``reply`` and logs nothing (pytest would show it)."""

    def reply(self, code: int, data: bytes, content_type: str = "application/json", reason: str | None = None) -> None:
        self.send_response(code, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on loopback answering with ``handler``; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
