"""Outbound gRPC channels to other ragplane services.

Calls carry the service token, the caller's tenant and request id, W3C trace context, and a deadline: the
one the caller gave, else what is left of the current request's deadline, else the default. gRPC retries
UNAVAILABLE on idempotent methods within that deadline (``retry.service_config``).

Calls are balanced per call, not per connection: an address such as ``dns:///embed-headless.ns.svc:50053``
resolves to every ready replica and the ``round_robin`` policy sends each call to the next one. Servers close
connections after ``RAGPLANE_GRPC_MAX_CONNECTION_AGE_S`` (``server.server_options``); the channel then looks the
name up again, so a replica added later gets its share without the caller restarting.

With RAGPLANE_TLS_CA_FILE set every channel is TLS: it verifies the server against that CA and presents the
workload's certificate (RAGPLANE_TLS_CERT_FILE), which servers under mutual TLS require (``tls``).
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from ragplane.runtime.context import (
    PRINCIPAL_HEADER,
    REQUEST_ID_HEADER,
    TENANT_HEADER,
    principal_var,
    request_id_var,
    tenant_var,
)
from ragplane.runtime.interceptors import remaining_time
from ragplane.runtime.retry import service_config
from ragplane.runtime.settings import CommonSettings
from ragplane.runtime.tls import RenewingChannel, service_channel_credentials, target_name_options

# A call gives up this much before its caller's deadline so that the caller can still answer.
DEADLINE_MARGIN_S = 0.02


class _ServiceCallDetails:
    """Adds service credentials, tenant, request id and the inherited deadline to outbound call details."""

    def __init__(self, service_token: str, default_timeout_s: float) -> None:
        self._token = service_token
        self._default_timeout_s = default_timeout_s

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = list(details.metadata or [])
        present = {key for key, _ in metadata}
        tenant = tenant_var.get()
        if "authorization" not in present and tenant is not None:
            metadata.append(("authorization", f"Bearer {self._token}"))
            metadata.append((TENANT_HEADER, tenant))
            principal = principal_var.get()
            if principal:
                metadata.append((PRINCIPAL_HEADER, principal))
        request_id = request_id_var.get()
        if request_id and REQUEST_ID_HEADER not in present:
            metadata.append((REQUEST_ID_HEADER, request_id))
        timeout = details.timeout
        if timeout is None:
            left = remaining_time()
            timeout = self._default_timeout_s if left is None else max(0.001, left - DEADLINE_MARGIN_S)
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=timeout,
            metadata=grpc.aio.Metadata(*metadata),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )


# grpc.aio files each interceptor under ONE call type (the first base class it matches), so every call type
# needs its own interceptor object.
class _UnaryUnary(_ServiceCallDetails, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[override]
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_ServiceCallDetails, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[override]
        return await continuation(self._details(client_call_details), request)


class _StreamUnary(_ServiceCallDetails, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):  # type: ignore[override]
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStream(_ServiceCallDetails, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):  # type: ignore[override]
        return await continuation(self._details(client_call_details), request_iterator)


MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# A ping unanswered this long marks the connection dead, so round_robin stops sending calls to that replica.
KEEPALIVE_TIMEOUT_MS = 10_000


def channel_options(
    settings: CommonSettings | None = None, *, max_message_bytes: int = MAX_MESSAGE_BYTES
) -> list[tuple[str, Any]]:
    """The options of a channel to a ragplane peer: message sizes, keepalive, retries and load balancing.

    Args:
        settings: the caller's settings (RAGPLANE_GRPC_LB_POLICY, _KEEPALIVE_S, _DNS_REFRESH_S); None for
            their defaults.
        max_message_bytes: the largest message either way.

    Returns:
        ``grpc`` channel arguments.
    """
    settings = settings or CommonSettings()
    config = json.loads(service_config())
    # The policy goes in the service config (the channel argument grpc.lb_policy_name is ignored once a
    # service config is set); a resolver-provided config would win, but DNS TXT lookups are off in gRPC.
    config["loadBalancingConfig"] = [{settings.grpc_lb_policy: {}}]
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.grpc_keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.dns_min_time_between_resolutions_ms", int(settings.grpc_dns_refresh_s * 1000)),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(config)),
        *target_name_options(settings),
    ]


CHANNEL_OPTIONS = channel_options()


def service_channel(
    address: str, service_token: str, default_timeout_s: float = 30.0, *, settings: CommonSettings | None = None
) -> grpc.aio.Channel:
    """A channel to another ragplane service, with tracing: TLS when RAGPLANE_TLS_CA_FILE is set (presenting the
    workload's certificate for mutual TLS), plaintext otherwise (the local stack, or a mesh that encrypts).

    Args:
        address: ``host:port``, or ``dns:///name:port`` to balance over every address the name resolves to.
        service_token: the credential sent with calls made for a tenant.
        default_timeout_s: the deadline of a call made outside a request that gives none.
        settings: the caller's settings, for the channel options (``channel_options``) and TLS; None for
            defaults (plaintext).

    Raises:
        OSError: a configured TLS file cannot be read.
    """
    interceptors: list[Any] = []
    try:
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        interceptors.extend(aio_client_interceptors())
    except ImportError:  # pragma: no cover - the instrumentation is a runtime dependency
        pass
    interceptors.extend(
        kind(service_token, default_timeout_s) for kind in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)
    )
    settings = settings or CommonSettings()
    options = channel_options(settings)
    if service_channel_credentials(settings) is None:
        return grpc.aio.insecure_channel(address, options=options, interceptors=interceptors)

    def open_channel() -> grpc.aio.Channel:
        credentials = service_channel_credentials(settings)
        return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)

    # A renewed client certificate (cert-manager rewrites the mounted Secret) is used without a restart.
    return RenewingChannel(
        open_channel,
        (settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file),
        check_s=settings.tls_reload_s,
        retire_after_s=max(default_timeout_s, settings.grpc_max_connection_age_grace_s),
    )
