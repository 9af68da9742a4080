"""Kafka over TLS, a real session: ragplane's own producer and consumer, built from the RAGPLANE_KAFKA_* settings
as a service builds them, talk to a broker that can only be reached through TLS with a client certificate.

The local broker (Tansu) does not complete a TLS handshake itself, so a TLS-terminating proxy (support.tlsproxy)
stands in front of it and Tansu advertises the proxy's address (``localhost:PORT``): the bootstrap connection and
every later one (partition leader, group coordinator) go through the proxy, which accepts nothing but TLS with a
certificate of the test CA. A client that did not use TLS, trusted another CA, presented no certificate or checked
another host name would not get a single event through.

SASL runs in test_kafka_sasl_session.py, against support.saslproxy: Tansu 0.6.0 cannot authenticate users on its
memory storage, so a proxy in front of it runs the broker's side of the SASL exchange.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kafka.errors import KafkaError
from support.certs import Pki, issue, write_pair
from support.processes import free_port
from support.tlsproxy import TlsProxy, broker_advertising

from ragplane.cli import infra
from ragplane.runtime.kafka import ConsumerOptions, ConsumerRunner, EventProducer, ensure_topics
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import common_pb2, events_pb2

pytestmark = pytest.mark.integration

TOPIC = "ragplane.chunks.v1"


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsProxy, infra.Proc]]:
    """A broker reachable only through a TLS proxy on ``localhost:PORT`` that requires a client certificate."""
    proxy_port = free_port()
    broker = broker_advertising(f"localhost:{proxy_port}", tmp_path_factory.mktemp("tls-broker") / "broker.log")
    proxy = TlsProxy(broker.address, pki.server.cert, pki.server.key, client_ca=pki.ca, port=proxy_port).start()
    yield proxy, broker
    proxy.stop()
    broker.stop()


def _settings(bootstrap: str, **env: str) -> CommonSettings:
    """Settings read from environment variables, as a service reads them at start."""
    return load_settings(
        CommonSettings,
        {"RAGPLANE_KAFKA_BOOTSTRAP": bootstrap, "RAGPLANE_KAFKA_PARTITIONS": "2", **env},
    )


def _tls_env(pki: Pki, *, ca: Path | None = None, client: bool = True) -> dict[str, str]:
    env = {"RAGPLANE_KAFKA_SECURITY_PROTOCOL": "SSL", "RAGPLANE_KAFKA_SSL_CAFILE": str(ca or pki.ca)}
    if client:
        env.update(RAGPLANE_KAFKA_SSL_CERTFILE=str(pki.client.cert), RAGPLANE_KAFKA_SSL_KEYFILE=str(pki.client.key))
    return env


def _event(doc_id: str) -> events_pb2.ChunksEvent:
    return events_pb2.ChunksEvent(
        tenant="t1",
        doc_id=doc_id,
        version=common_pb2.DocumentVersion(content_hash="h", sequence=1),
        chunks=[common_pb2.Chunk(chunk_id=f"{doc_id}-0", text=f"text of {doc_id}")],
    )


def _refused(settings: CommonSettings) -> KafkaError:
    """The error a producer built from ``settings`` fails to connect with."""
    producer = EventProducer(settings, "test-refused")
    producer._config.update(request_timeout_ms=3000, bootstrap_timeout_ms=5000)
    with pytest.raises(KafkaError) as failed:
        producer.connect()
    return failed.value


def test_events_round_trip_over_mutual_tls_with_the_service_clients(pki, tls_broker):
    proxy, broker = tls_broker
    settings = _settings(f"localhost:{proxy.port}", **_tls_env(pki), RAGPLANE_KAFKA_TOPIC_PREFIX="tls-")
    assert settings.kafka_security_protocol == "SSL"
    ensure_topics(settings, [TOPIC])
    received: list[str] = []
    lock = threading.Lock()

    def handle(batch) -> None:
        with lock:
            received.extend(envelope.message.doc_id for envelope in batch)

    runner = ConsumerRunner(
        settings,
        topic=TOPIC,
        group=f"tls-{uuid.uuid4().hex[:8]}",
        message_type=events_pb2.ChunksEvent,
        handler=handle,
        options=ConsumerOptions(batch_size=8),
    )
    runner.start()
    producer = EventProducer(settings, "test-tls-producer")
    try:
        assert runner.wait_assigned(90), "the consumer never joined its group through TLS"
        sent = [f"doc-{n}" for n in range(20)]
        producer.send_many(TOPIC, [(f"t1/{doc}", _event(doc)) for doc in sent])
        deadline = time.monotonic() + 60
        while len(received) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(received) == sorted(sent)
    finally:
        producer.close()
        runner.stop()
    # Every connection went through the proxy's TLS; none failed its handshake.
    assert proxy.handshakes >= 3, proxy.handshakes
    assert proxy.handshake_errors == []


def test_a_plaintext_client_gets_nothing_through(pki, tls_broker):
    proxy, _ = tls_broker
    before = proxy.handshakes
    _refused(_settings(f"localhost:{proxy.port}"))
    assert proxy.handshakes == before
    assert proxy.handshake_errors, "the proxy saw no failed handshake"


def test_a_client_trusting_another_ca_cannot_connect(pki, tls_broker, caplog):
    proxy, _ = tls_broker
    before = proxy.handshakes
    error = _refused(_settings(f"localhost:{proxy.port}", **_tls_env(pki, ca=pki.foreign_ca)))
    assert proxy.handshakes == before
    assert "Unable to bootstrap" in str(error)
    # What the service's log says, once per try: the broker's certificate is not one the configured CA signed.
    assert "Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in caplog.text


def test_a_client_without_a_certificate_is_refused_by_the_broker_side(pki, tls_broker):
    proxy, _ = tls_broker
    errors = len(proxy.handshake_errors)
    _refused(_settings(f"localhost:{proxy.port}", **_tls_env(pki, client=False)))
    assert any("certificate" in e.lower() for e in proxy.handshake_errors[errors:]), proxy.handshake_errors


def test_a_broker_whose_certificate_names_another_host_is_refused(pki, tls_broker, tmp_path, caplog):
    """The test CA signs a certificate for another host; the client connects to 127.0.0.1 and refuses it."""
    _, broker = tls_broker
    ca_cert = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    ca_key = serialization.load_pem_private_key((pki.ca.parent / "ca.key").read_bytes(), password=None)
    elsewhere = write_pair(
        issue((ca_cert, ca_key), "kafka.elsewhere.test", dns=("kafka.elsewhere.test",)), tmp_path, "x"
    )
    proxy = TlsProxy(broker.address, elsewhere.cert, elsewhere.key, client_ca=pki.ca).start()
    try:
        _refused(_settings(proxy.address, **_tls_env(pki)))
        assert proxy.handshakes == 0
    finally:
        proxy.stop()
    assert "Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP address mismatch" in (
        caplog.text
    ), caplog.text[-2000:]
