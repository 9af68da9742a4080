"""Topic names, connection settings, topic creation and consumer lag."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ragplane.runtime.logs import get_logger
from ragplane.runtime.retry import Backoff, retry_call
from ragplane.runtime.settings import CommonSettings, SettingsError

log = get_logger("ragplane.kafka")

TOPIC_CHUNKS = "ragplane.chunks.v1"
TOPIC_VECTORS = "ragplane.vectors.v1"
TOPIC_INDEXED = "ragplane.indexed.v1"
TOPIC_ANSWERS = "ragplane.answers.v1"
TOPIC_FEEDBACK = "ragplane.feedback.v1"
TOPIC_EVALS = "ragplane.evals.v1"
ALL_TOPICS = (TOPIC_CHUNKS, TOPIC_VECTORS, TOPIC_INDEXED, TOPIC_ANSWERS, TOPIC_FEEDBACK, TOPIC_EVALS)


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}.dlq"


def topic_name(settings: CommonSettings, topic: str) -> str:
    """The name the broker knows ``topic`` by: RAGPLANE_KAFKA_TOPIC_PREFIX in front of it.

    Services name topics by their plain names (``ragplane.chunks.v1``); the producer, the consumer and
    ``ensure_topics`` put the prefix on, so two installations with different prefixes share one Kafka.
    """
    return settings.kafka_topic_prefix + topic


def group_name(settings: CommonSettings, group: str) -> str:
    """The consumer group id the broker knows ``group`` by: RAGPLANE_KAFKA_TOPIC_PREFIX in front of it."""
    return settings.kafka_topic_prefix + group


def _sasl_password(settings: CommonSettings) -> str:
    if settings.kafka_sasl_password or not settings.kafka_sasl_password_file:
        return settings.kafka_sasl_password
    try:
        with open(settings.kafka_sasl_password_file, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise SettingsError(f"RAGPLANE_KAFKA_SASL_PASSWORD_FILE: cannot read it: {exc}") from None


def client_config(settings: CommonSettings) -> dict[str, Any]:
    """Connection settings shared by producers, consumers and the admin client (kafka-python's arguments).

    TLS (security protocol SSL or SASL_SSL) verifies the brokers with RAGPLANE_KAFKA_SSL_CAFILE (else the system
    CA store) and checks their host names; a client certificate goes with it when configured. SASL (PLAIN or
    SCRAM) takes its password inline or from a mounted file.

    Raises:
        SettingsError: a SASL protocol without a mechanism, a user or a password, or a mechanism without a SASL
            protocol, naming the variable.
    """
    protocol = settings.kafka_security_protocol
    config: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()],
        "security_protocol": protocol,
    }
    sasl = protocol.startswith("SASL_")
    if settings.kafka_sasl_mechanism and not sasl:
        raise SettingsError(
            f"RAGPLANE_KAFKA_SASL_MECHANISM: set, but RAGPLANE_KAFKA_SECURITY_PROTOCOL is {protocol} "
            "(SASL_SSL or SASL_PLAINTEXT authenticate with SASL)"
        )
    if sasl:
        if not settings.kafka_sasl_mechanism:
            raise SettingsError(f"RAGPLANE_KAFKA_SASL_MECHANISM: required with security protocol {protocol}")
        if not settings.kafka_sasl_username:
            raise SettingsError(f"RAGPLANE_KAFKA_SASL_USERNAME: required with security protocol {protocol}")
        password = _sasl_password(settings)
        if not password:
            raise SettingsError(
                f"RAGPLANE_KAFKA_SASL_PASSWORD: required (or RAGPLANE_KAFKA_SASL_PASSWORD_FILE) with {protocol}"
            )
        config.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password,
        )
    if protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = True
        if settings.kafka_ssl_cafile:
            config["ssl_cafile"] = settings.kafka_ssl_cafile
        if settings.kafka_ssl_certfile:
            config.update(ssl_certfile=settings.kafka_ssl_certfile, ssl_keyfile=settings.kafka_ssl_keyfile or None)
    return config


class _ConnectionErrors(logging.Handler):
    """The last connection failure kafka-python logged in one thread (it raises only "Unable to bootstrap")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._thread = threading.get_ident()
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread:
            return
        message = record.getMessage()
        if "Unable to bootstrap" not in message and ("failed" in message or "Error" in message):
            self.last = message


@contextmanager
def connection_errors_named(settings: CommonSettings) -> Iterator[None]:
    """Re-raise a client's failure to reach the brokers with why its connections failed.

    A wrong SASL password or an untrusted certificate makes kafka-python retry until its bootstrap timeout and
    raise "Unable to bootstrap", the reason only in a warning. The reason goes into the error, and for a refused
    SASL login the settings to check, so a service that does not start says why.
    """
    handler = _ConnectionErrors()
    logger = logging.getLogger("kafka")
    logger.addHandler(handler)
    try:
        yield
    except KafkaError as exc:
        if handler.last is None:
            raise
        said = exc.args[0] if exc.args else type(exc).__name__
        raise type(exc)(f"{said}: {_reason(settings, handler.last)}") from exc
    finally:
        logger.removeHandler(handler)


def _reason(settings: CommonSettings, logged: str) -> str:
    marker = "SaslAuthenticationFailedError: "
    if marker in logged:
        source = (
            "RAGPLANE_KAFKA_SASL_PASSWORD_FILE" if settings.kafka_sasl_password_file else "RAGPLANE_KAFKA_SASL_PASSWORD"
        )
        return (
            f"SASL authentication as {settings.kafka_sasl_username!r} with {settings.kafka_sasl_mechanism} failed "
            f"(check RAGPLANE_KAFKA_SASL_USERNAME and {source}): {logged.rsplit(marker, 1)[1]}"
        )
    return f"last connection error: {logged}"


def topic_configs(settings: CommonSettings) -> dict[str, str]:
    """Configs every ragplane topic is created with: the record size limit the producers split events under."""
    return {"max.message.bytes": str(settings.kafka_max_message_bytes)}


def ensure_topics(
    settings: CommonSettings,
    topics: Iterable[str],
    *,
    partitions: int | None = None,
    replication_factor: int = 1,
    with_dlq: bool = True,
    timeout_s: float = 30.0,
) -> None:
    """Create topics (and their DLQs) if missing, with ``topic_configs``; existing topics are left as they are.

    ``topics`` are plain names; each is created as ``topic_name`` (with RAGPLANE_KAFKA_TOPIC_PREFIX).
    """
    wanted = []
    for topic in (topic_name(settings, t) for t in topics):
        wanted.append(topic)
        if with_dlq and not topic.endswith(".dlq"):
            wanted.append(dlq_topic(topic))

    def connect() -> KafkaAdminClient:
        with connection_errors_named(settings):
            return KafkaAdminClient(**client_config(settings), client_id="ragplane-admin")

    admin = retry_call(
        connect,
        Backoff(base_s=0.1, cap_s=1.0, attempts=None),
        retriable=lambda exc: isinstance(exc, KafkaError),
        deadline=time.monotonic() + timeout_s,
        what="connect to the broker",
    )
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        if missing:
            configs = topic_configs(settings)
            count = partitions or settings.kafka_partitions
            new = [NewTopic(t, count, replication_factor, topic_configs=configs) for t in missing]
            try:
                admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass
            log.info("topics created", topics=missing, **configs)
    finally:
        admin.close()


def consumer_lag(settings: CommonSettings, group: str, topic: str) -> dict[int, int]:
    """Per-partition lag of ``group`` on ``topic``: log-end offset minus the committed offset.

    A partition the group never committed counts from the log start offset. ``group`` and ``topic`` are plain
    names (RAGPLANE_KAFKA_TOPIC_PREFIX is put in front of both).
    """
    group, topic = group_name(settings, group), topic_name(settings, topic)
    consumer = KafkaConsumer(**client_config(settings), group_id=None, enable_auto_commit=False)
    admin = KafkaAdminClient(**client_config(settings), client_id="ragplane-lag")
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        ends = consumer.end_offsets(tps)
        starts = consumer.beginning_offsets(tps)
        committed = admin.list_consumer_group_offsets(group)
        lag = {}
        for tp in tps:
            meta = committed.get(tp)
            position = meta.offset if meta is not None and meta.offset >= 0 else starts.get(tp, 0)
            lag[tp.partition] = max(0, ends.get(tp, 0) - position)
        return lag
    finally:
        consumer.close()
        admin.close()
