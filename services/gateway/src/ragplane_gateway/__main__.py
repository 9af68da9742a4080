"""Run the gateway: ``python -m ragplane_gateway``.

Settings -> logging and tracing -> metrics endpoint -> the HTTP server (uvicorn) until SIGTERM or SIGINT, then
in-flight requests get RAGPLANE_GRACE_PERIOD_S to finish.
"""

from __future__ import annotations

import uvicorn

from ragplane.runtime.logs import configure_logging, get_logger
from ragplane.runtime.telemetry import configure_tracing, start_metrics_server
from ragplane.runtime.tls import check_tls
from ragplane_gateway.app import create_app
from ragplane_gateway.config import Settings, load
from ragplane_gateway.tls import RenewingServerContext

log = get_logger("ragplane.gateway")


def server(settings: Settings) -> uvicorn.Server:
    """The uvicorn server of the gateway app (not started): HTTPS when RAGPLANE_TLS_CERT_FILE is set.

    Raises:
        SettingsError: a TLS configuration that cannot work (ragplane.runtime.tls.check_tls).
    """
    check_tls(settings)
    config = uvicorn.Config(
        create_app(settings),
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
    return uvicorn.Server(config)


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
