"""Run the gateway: ``python -m ragplane_gateway``.

Settings -> logging and tracing -> metrics endpoint -> the HTTP server (uvicorn) until SIGTERM or SIGINT; then
/readyz answers 503 for RAGPLANE_SHUTDOWN_DELAY_S while requests are still served, the listener closes, and
requests in flight get RAGPLANE_GRACE_PERIOD_S to finish.
"""

from __future__ import annotations

import threading
from types import FrameType
from typing import Any

import uvicorn

from ragplane.runtime.logs import configure_logging, get_logger
from ragplane.runtime.telemetry import configure_tracing, start_metrics_server
from ragplane.runtime.tls import check_tls
from ragplane_gateway.app import create_app
from ragplane_gateway.config import Settings, load
from ragplane_gateway.tls import RenewingServerContext

log = get_logger("ragplane.gateway")


class GatewayServer(uvicorn.Server):
    """uvicorn with the services' shutdown order: on SIGTERM /readyz answers 503 at once while requests are still
    served for RAGPLANE_SHUTDOWN_DELAY_S (load balancers stop routing first), then the listener closes and requests
    in flight get RAGPLANE_GRACE_PERIOD_S."""

    def __init__(self, config: uvicorn.Config, app: Any, shutdown_delay_s: float) -> None:
        super().__init__(config)
        self._app = app
        self._shutdown_delay_s = shutdown_delay_s
        self._draining: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._shutdown_delay_s <= 0 or self._draining is not None or self.should_exit:
            super().handle_exit(sig, frame)
            return
        self._app.state.draining = True
        log.info("draining: not ready, still serving", shutdown_delay_s=self._shutdown_delay_s)
        self._draining = threading.Timer(self._shutdown_delay_s, super().handle_exit, (sig, frame))
        self._draining.daemon = True
        self._draining.start()


def server(settings: Settings) -> uvicorn.Server:
    """The uvicorn server of the gateway app (not started): HTTPS when RAGPLANE_TLS_CERT_FILE is set.

    Raises:
        SettingsError: a TLS configuration that cannot work (ragplane.runtime.tls.check_tls).
    """
    check_tls(settings)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.grace_period_s)),
        server_header=False,
        # Marks the server as HTTPS; the context itself is replaced below by one that follows renewals.
        ssl_certfile=settings.tls_cert_file or None,
        ssl_keyfile=settings.tls_key_file or None,
    )
    if settings.tls_cert_file:
        config.load()
        config.ssl = RenewingServerContext(settings.tls_cert_file, settings.tls_key_file, settings.tls_reload_s).context
    return GatewayServer(config, app, settings.shutdown_delay_s)


def main() -> None:
    settings = load()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway", settings.otel_exporter)
    metrics_port = start_metrics_server(settings.metrics_address)
    http = server(settings)
    log.info(
        "listening",
        service="gateway",
        address=settings.listen,
        metrics_port=metrics_port,
        tls=bool(settings.tls_cert_file),
    )
    http.run()


if __name__ == "__main__":
    main()
