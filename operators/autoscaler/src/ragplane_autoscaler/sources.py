"""Which signal sources a RagAutoscaler may name: the operator's own brokers and allow-listed HTTP hosts.

Whoever may create a RagAutoscaler must not be able to point the operator elsewhere: a Kafka signal is read with
the operator's SASL credentials, so its bootstrap servers must be the operator's own
(``RAGPLANE_AUTOSCALER_KAFKA_BOOTSTRAP_SERVERS``); an HTTP signal is fetched from inside the cluster, so its URL
must be http(s), without credentials, on a host of ``RAGPLANE_AUTOSCALER_SIGNAL_HOSTS`` (``host`` or
``host:port``). Empty lists allow nothing of that kind.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection

from .settings import Settings
from .spec import AutoscalerSpec, KafkaLagSignal, PrometheusSignal, SpecError


def check_sources(spec: AutoscalerSpec, settings: Settings) -> None:
    """Refuse a spec whose signals name brokers or hosts the operator's settings do not allow.

    Raises:
        SpecError: naming the field (e.g. ``spec.signals[0].kafkaLag.bootstrapServers``) and the setting.
    """
    for i, sig in enumerate(spec.signals):
        src = sig.source
        if isinstance(src, KafkaLagSignal):
            _check_brokers(src.bootstrap_servers, settings.kafka_bootstrap_servers, f"spec.signals[{i}].kafkaLag")
        elif isinstance(src, PrometheusSignal):
            check_url(src.server_url, settings.signal_hosts, f"spec.signals[{i}].prometheus.serverURL")
        else:
            check_url(src.url, settings.signal_hosts, f"spec.signals[{i}].metricsEndpoint.url")


def _check_brokers(bootstrap: str, allowed: Collection[str], path: str) -> None:
    for broker in (b.strip() for b in bootstrap.split(",")):
        if broker.lower() not in {a.lower() for a in allowed}:
            raise SpecError(
                f"{path}.bootstrapServers: {broker!r} is not one of the operator's brokers "
                "(RAGPLANE_AUTOSCALER_KAFKA_BOOTSTRAP_SERVERS); the operator reads lag only there"
            )


def check_url(url: str, allowed_hosts: Collection[str], path: str) -> None:
    """Refuse a URL that is not plain http(s) to an allowed host.

    Raises:
        SpecError: naming ``path``.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise SpecError(f"{path}: not a URL ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise SpecError(f"{path} must be an http or https URL, but got scheme {parts.scheme!r}")
    if parts.username is not None or parts.password is not None:
        raise SpecError(f"{path} must not carry credentials")
    host = (parts.hostname or "").lower()
    allowed = {h.lower() for h in allowed_hosts}
    if not host or (host not in allowed and f"{host}:{port or ''}" not in allowed):
        raise SpecError(f"{path}: host {host!r} is not in the operator's RAGPLANE_AUTOSCALER_SIGNAL_HOSTS")
