"""Typed, frozen settings read once from environment variables and validated at start.

A service declares a frozen dataclass whose fields carry ``env(...)`` metadata and calls
``load_settings(MySettings)``. Errors name the variable and the bad value, e.g.
``RAGPLANE_GRPC_LISTEN: expected host:port, got 'abc'``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def env(
    var: str,
    default: Any = dataclasses.MISSING,
    *,
    parse: Callable[[str], Any] | None = None,
    check: Callable[[Any], str | None] | None = None,
    doc: str = "",
) -> Any:
    """Declare a dataclass field read from environment variable ``var``.

    Args:
        var: environment variable name.
        default: value when the variable is unset (omit to make it required).
        parse: converts the raw string; by default derived from the field's type.
        check: returns an error message for an invalid parsed value, or None.
        doc: one line for the configuration reference.
    """
    metadata = {"env": var, "parse": parse, "check": check, "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {raw!r}")


def parse_hostport(raw: str) -> str:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {raw!r}")
    return raw


def parse_csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, but got {value}"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else f"must be >= 0, but got {value}"


def fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"must be between 0 and 1, but got {value}"


Check = Callable[[Any], "str | None"]


def one_of(*options: str) -> Check:
    """A check that the value is one of ``options`` (listed in the given order in the message)."""

    def check(value: str) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)}, but got {value!r}"

    return check


def in_range(low: float, high: float, *, low_open: bool = False) -> Check:
    """A check that ``low <= value <= high`` (``low < value`` when ``low_open``)."""

    def check(value: float) -> str | None:
        above = value > low if low_open else value >= low
        if above and value <= high:
            return None
        if low_open:
            return f"must be in ({low:g}, {high:g}], but got {value}"
        return f"must be between {low:g} and {high:g}, but got {value}"

    return check


def kafka_name_prefix(value: str) -> str | None:
    """A prefix Kafka accepts at the front of topic names and group ids (letters, digits, '.', '_', '-')."""
    if re.fullmatch(r"[A-Za-z0-9._-]{0,100}", value):
        return None
    return f"must be at most 100 of the characters A-Z a-z 0-9 . _ - (Kafka topic names), but got {value!r}"


def non_empty(value: str) -> str | None:
    return None if value else "must not be empty"


def optional(inner: Check) -> Check:
    """``inner`` for a set value; None (unset) passes."""
    return lambda value: None if value is None else inner(value)


def _default_parser(tp: Any) -> Callable[[str], Any]:
    origin = typing.get_origin(tp)
    if tp is bool:
        return parse_bool
    if tp is int:
        return int
    if tp is float:
        return float
    if tp is str:
        return str
    if origin is tuple:
        return parse_csv
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) == 1:  # Optional[X]
        inner = _default_parser(args[0])
        return lambda raw: None if raw == "" else inner(raw)
    raise TypeError(f"no default parser for {tp!r}; pass parse=")


T = typing.TypeVar("T")


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None, **overrides: Any) -> T:
    """Build ``cls`` from the environment, validating every field.

    Raises:
        SettingsError: naming the first variable that is missing or invalid.
    """
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        meta = field.metadata
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        if "env" not in meta:
            continue
        var = meta["env"]
        raw = environ.get(var)
        if raw is None:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise SettingsError(f"{var}: required but not set")
            continue
        parser = meta["parse"] or _default_parser(hints[field.name])
        try:
            value = parser(raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{var}: {exc}") from None
        check = meta["check"]
        if check is not None:
            problem = check(value)
            if problem:
                raise SettingsError(f"{var}: {problem}")
        values[field.name] = value
    return cls(**values)


def describe(cls: type) -> list[tuple[str, str, str]]:
    """Rows (variable, default, description) for a settings class, for docs and ``--help``."""
    rows = []
    for field in dataclasses.fields(cls):
        meta = field.metadata
        if "env" not in meta:
            continue
        if field.default is not dataclasses.MISSING:
            default = repr(field.default)
        elif field.default_factory is not dataclasses.MISSING:
            default = repr(field.default_factory())
        else:
            default = "(required)"
        rows.append((meta["env"], default, meta["doc"]))
    return rows


@dataclasses.dataclass(frozen=True)
class CommonSettings:
    """Settings every service shares. Services subclass this and add their own fields.

    Defaults are the local stack's; the service's own defaults (port) come from ``service_defaults``.
    """

    grpc_listen: str = env(
        "RAGPLANE_GRPC_LISTEN",
        "",
        parse=lambda r: parse_hostport(r) if r else "",
        doc="host:port the gRPC server binds (default: loopback and the service's port)",
    )
    metrics_listen: str = env(
        "RAGPLANE_METRICS_LISTEN",
        "",
        parse=lambda r: parse_hostport(r) if r else "",
        doc="host:port of the Prometheus endpoint; 'off' is not accepted, use port 0",
    )
    api_keys: str = env(
        "RAGPLANE_API_KEYS",
        "dev-key=default",
        doc="client keys of the client-facing services: 'key=tenant,key2=tenant2' or a path to a file of such "
        "lines (re-read when it changes); the default is the local stack's, refused unless RAGPLANE_ALLOW_DEV_KEY",
    )
    api_keys_reload_s: float = env(
        "RAGPLANE_API_KEYS_RELOAD_S",
        10.0,
        check=positive,
        doc="how often a RAGPLANE_API_KEYS file is checked for changes (rotation and revocation without restart)",
    )
    service_token: str = env(
        "RAGPLANE_SERVICE_TOKEN",
        "dev-service-token",
        doc="credential services present to each other; a secret of at least 32 characters unless "
        "RAGPLANE_ALLOW_DEV_KEY",
    )
    allow_dev_key: bool = env(
        "RAGPLANE_ALLOW_DEV_KEY",
        False,
        doc="local development only: accept the 'dev-key', a default or short service token, and client keys on "
        "internal services; when false, the first two stop the service at start and internal services take only "
        "the service token",
    )
    grace_period_s: float = env(
        "RAGPLANE_GRACE_PERIOD_S", 10.0, check=non_negative, doc="seconds in-flight RPCs get to finish after SIGTERM"
    )
    shutdown_delay_s: float = env(
        "RAGPLANE_SHUTDOWN_DELAY_S",
        0.0,
        check=non_negative,
        doc="after SIGTERM, seconds of NOT_SERVING while still accepting RPCs, so load "
        "balancers stop routing before the port closes",
    )
    default_deadline_s: float = env(
        "RAGPLANE_DEFAULT_DEADLINE_S", 30.0, check=positive, doc="deadline applied to calls that arrive without one"
    )
    grpc_lb_policy: str = env(
        "RAGPLANE_GRPC_LB_POLICY",
        "round_robin",
        check=one_of("round_robin", "pick_first"),
        doc="how a channel to another service spreads calls over the replicas its address resolves to "
        "(round_robin: per call, over every replica behind a dns:/// headless name)",
    )
    grpc_keepalive_s: float = env(
        "RAGPLANE_GRPC_KEEPALIVE_S",
        30.0,
        check=in_range(10.0, 3600.0),
        doc="seconds between keepalive pings on a channel with calls in flight (a dead replica is dropped)",
    )
    grpc_dns_refresh_s: float = env(
        "RAGPLANE_GRPC_DNS_REFRESH_S",
        30.0,
        check=in_range(0.1, 3600.0),
        doc="least seconds between two DNS lookups of a channel's address (a lookup follows a closed connection)",
    )
    grpc_max_connection_age_s: float = env(
        "RAGPLANE_GRPC_MAX_CONNECTION_AGE_S",
        120.0,
        check=in_range(1.0, 86_400.0),
        doc="a server closes each client connection after about this long, so that long-lived callers look up "
        "the replicas again and spread onto new ones",
    )
    grpc_max_connection_age_grace_s: float = env(
        "RAGPLANE_GRPC_MAX_CONNECTION_AGE_GRACE_S",
        600.0,
        check=in_range(0.0, 3600.0),
        doc="seconds the calls in flight on a connection closed for its age get to finish (new calls move to a "
        "new connection at once; keep it above the longest call, e.g. an answer streamed from a CPU model)",
    )
    grpc_internal_listen: str = env(
        "RAGPLANE_GRPC_INTERNAL_LISTEN",
        "",
        parse=lambda r: parse_hostport(r) if r else "",
        doc="client-facing services with RAGPLANE_TLS_CLIENT_AUTH=require: host:port of a second listener for "
        "internal callers (mutual TLS; the service token counts only there); empty: none",
    )
    grpc_health_listen: str = env(
        "RAGPLANE_GRPC_HEALTH_LISTEN",
        "",
        parse=lambda r: parse_hostport(r) if r else "",
        doc="host:port of a plaintext listener serving only grpc.health.v1 (kubelet's gRPC probes speak no TLS); "
        "empty: none",
    )
    tls_cert_file: str = env(
        "RAGPLANE_TLS_CERT_FILE",
        "",
        doc="PEM certificate chain of this workload: its gRPC listeners serve TLS with it and its channels present "
        "it as the client certificate; re-read when the file changes; empty: plaintext listeners",
    )
    tls_key_file: str = env("RAGPLANE_TLS_KEY_FILE", "", doc="PEM private key of RAGPLANE_TLS_CERT_FILE")
    tls_ca_file: str = env(
        "RAGPLANE_TLS_CA_FILE",
        "",
        doc="PEM CA bundle of the internal CA: channels to other services verify their certificates with it (TLS "
        "on every channel when set) and servers verify client certificates with it",
    )
    tls_client_auth: str = env(
        "RAGPLANE_TLS_CLIENT_AUTH",
        "none",
        check=one_of("none", "require"),
        doc="require: internal listeners accept only clients with a certificate signed by RAGPLANE_TLS_CA_FILE, and "
        "the service token counts only from such a client (mutual TLS); none: server TLS only",
    )
    tls_reload_s: float = env(
        "RAGPLANE_TLS_RELOAD_S",
        30.0,
        check=in_range(0.1, 3600.0),
        doc="least seconds between two checks of the TLS files by a channel (a renewed client certificate is "
        "used for new calls after that; listeners re-read theirs at every new connection)",
    )
    tls_server_name: str = env(
        "RAGPLANE_TLS_SERVER_NAME",
        "",
        doc="name the servers' certificates are checked against instead of the address's host (empty: the host)",
    )
    model_server_tls: bool = env(
        "RAGPLANE_MODEL_SERVER_TLS",
        False,
        doc="the v2 model server (Triton --grpc-use-ssl) serves TLS with a certificate of RAGPLANE_TLS_CA_FILE's CA",
    )
    model_channel_max_age_s: float = env(
        "RAGPLANE_MODEL_CHANNEL_MAX_AGE_S",
        120.0,
        check=in_range(0.0, 86_400.0),
        doc="a v2 model client (to Triton or the model server) replaces its channel after this long, so that it "
        "looks the server's replicas up again (Triton closes no connection for its age); 0: never",
    )
    log_level: str = env("RAGPLANE_LOG_LEVEL", "INFO", doc="DEBUG, INFO, WARNING or ERROR")
    log_content: bool = env(
        "RAGPLANE_LOG_CONTENT", False, doc="log document text, prompts and answers (off by default)"
    )
    otel_exporter: str = env(
        "RAGPLANE_OTEL_EXPORTER",
        "none",
        check=one_of("none", "otlp", "console"),
        doc="trace exporter; otlp sends to OTEL_EXPORTER_OTLP_ENDPOINT and stays off while no endpoint is set",
    )
    kafka_bootstrap: str = env(
        "RAGPLANE_KAFKA_BOOTSTRAP", "127.0.0.1:9092", doc="comma-separated Kafka bootstrap servers"
    )
    kafka_security_protocol: str = env(
        "RAGPLANE_KAFKA_SECURITY_PROTOCOL",
        "PLAINTEXT",
        check=one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
        doc="PLAINTEXT (the local stack only), SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: str = env(
        "RAGPLANE_KAFKA_SASL_MECHANISM",
        "",
        check=lambda value: one_of("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")(value) if value else None,
        doc="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (with a SASL_ security protocol)",
    )
    kafka_sasl_username: str = env("RAGPLANE_KAFKA_SASL_USERNAME", "", doc="SASL user")
    kafka_sasl_password: str = env("RAGPLANE_KAFKA_SASL_PASSWORD", "", doc="SASL password")
    kafka_sasl_password_file: str = env(
        "RAGPLANE_KAFKA_SASL_PASSWORD_FILE",
        "",
        doc="file holding the SASL password (a mounted Secret); used when RAGPLANE_KAFKA_SASL_PASSWORD is empty",
    )
    kafka_ssl_cafile: str = env("RAGPLANE_KAFKA_SSL_CAFILE", "", doc="CA bundle for TLS to the brokers")
    kafka_ssl_certfile: str = env(
        "RAGPLANE_KAFKA_SSL_CERTFILE", "", doc="client certificate for brokers that authenticate clients by TLS"
    )
    kafka_ssl_keyfile: str = env("RAGPLANE_KAFKA_SSL_KEYFILE", "", doc="private key of RAGPLANE_KAFKA_SSL_CERTFILE")
    kafka_topic_prefix: str = env(
        "RAGPLANE_KAFKA_TOPIC_PREFIX",
        "",
        check=kafka_name_prefix,
        doc="put in front of every topic this process produces, consumes or creates (dead-letter topics included) "
        "and of every consumer group id, so that two installations share one Kafka without seeing each other's "
        "events, e.g. 'staging.'; empty: the plain names",
    )
    kafka_partitions: int = env(
        "RAGPLANE_KAFKA_PARTITIONS", 4, check=positive, doc="partitions for topics this service creates"
    )
    kafka_max_message_bytes: int = env(
        "RAGPLANE_KAFKA_MAX_MESSAGE_BYTES",
        1_048_576,
        check=in_range(65_536, 104_857_600),
        doc="largest record a producer sends (larger events are split) and the max.message.bytes of created topics",
    )
    kafka_compression: str = env(
        "RAGPLANE_KAFKA_COMPRESSION",
        "gzip",
        check=one_of("none", "gzip", "snappy", "lz4", "zstd"),
        doc="producer compression; snappy, lz4 and zstd need their Python packages",
    )
    redis_ca_file: str = env(
        "RAGPLANE_REDIS_CA_FILE",
        "",
        doc="CA bundle that verifies the Redis servers of rediss:// URLs (empty: the system CA store)",
    )
    redis_url: str = env(
        "RAGPLANE_REDIS_URL",
        "redis://127.0.0.1:6379/0",
        doc="Redis for caches, sessions and rate limits (may evict; ingest keeps its registry in RAGPLANE_STATE_REDIS_URL)",
    )
