"""Run the gateway: ``python -m ragplane_gateway``.

Settings -> logging and tracing -> metrics endpoint -> the HTTP server (uvicorn) until SIGTERM or SIGINT, then
in-flight requests get RAGPLANE_GRACE_PERIOD_S to finish.
"""

from __future__ import annotations

import uvicorn

from ragplane.runtime.logs import configure_logging, get_logger
from ragplane.runtime.telemetry import configure_tracing, start_metrics_server
from ragplane_gateway.app import create_app
from ragplane_gateway.config import Settings, load

log = get_logger("ragplane.gateway")


def server(settings: Settings) -> uvicorn.Server:
    """The uvicorn server of the gateway app (not started)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(settings.grace_period_s)),
        server_header=False,
    )
    return uvicorn.Server(config)


def main() -> None:
    settings = load()
    configure_logging("gateway", settings.log_level)
    configure_tracing("gateway", settings.otel_exporter)
    metrics_port = start_metrics_server(settings.metrics_address)
    log.info("listening", service="gateway", address=settings.listen, metrics_port=metrics_port)
    server(settings).run()


if __name__ == "__main__":
    main()
