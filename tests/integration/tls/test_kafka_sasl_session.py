"""Kafka over SASL_SSL, a real SASL exchange: ragplane's own producer and consumer, built from the RAGPLANE_KAFKA_*
settings as a service builds them (password from a mounted file), authenticate with PLAIN and with SCRAM-SHA-512.

What is real: the clients (kafka-python as the services configure it), TLS, the SASL exchange on the wire
(SaslHandshake v1, SaslAuthenticate v2, the PLAIN and SCRAM messages) and the broker behind (Tansu). What stands in:
the SASL server side is support.saslproxy, a TLS proxy in front of Tansu that runs the exchange a Kafka broker runs
on a SASL_SSL listener and forwards a connection only once it authenticated, because Tansu 0.6.0 cannot authenticate
users on its memory storage (see that module). Tansu advertises the proxy's address, so bootstrap and every later
connection (partition leader, group coordinator) authenticate.
"""

from __future__ import annotations

import base64
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.errors import KafkaError
from support.certs import Pki
from support.processes import free_port
from support.saslproxy import (
    API_API_VERSIONS,
    API_SASL_AUTHENTICATE,
    API_SASL_HANDSHAKE,
    SaslFailure,
    SaslProxy,
    ScramServer,
    scram_credential,
)
from support.tlsproxy import broker_advertising

from ragplane.cli import infra
from ragplane.runtime.kafka import ConsumerOptions, ConsumerRunner, EventProducer, ensure_topics
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import common_pb2, events_pb2

pytestmark = pytest.mark.integration

TOPIC = "ragplane.chunks.v1"
USER, PASSWORD = "ragplane-ingest", "s3cret-of-ingest"


@pytest.fixture(scope="module")
def sasl_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SaslProxy, infra.Proc]]:
    """A broker reachable only through a proxy on ``localhost:PORT`` that requires TLS, then SASL."""
    proxy_port = free_port()
    broker = broker_advertising(f"localhost:{proxy_port}", tmp_path_factory.mktemp("sasl-broker") / "broker.log")
    users = {USER: PASSWORD, "someone-else": "another-password"}
    proxy = SaslProxy(broker.address, pki.server.cert, pki.server.key, users, port=proxy_port).start()
    yield proxy, broker
    proxy.stop()
    broker.stop()


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    """The password as a mounted Secret holds it (with a trailing newline)."""
    path = tmp_path / "kafka-password"
    path.write_text(PASSWORD + "\n")
    return path


def _settings(bootstrap: str, **env: str) -> CommonSettings:
    """Settings read from environment variables, as a service reads them at start."""
    return load_settings(
        CommonSettings,
        {"RAGPLANE_KAFKA_BOOTSTRAP": bootstrap, "RAGPLANE_KAFKA_PARTITIONS": "2", **env},
    )


def _sasl_env(pki: Pki, mechanism: str, password_file: Path, user: str = USER) -> dict[str, str]:
    return {
        "RAGPLANE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "RAGPLANE_KAFKA_SSL_CAFILE": str(pki.ca),
        "RAGPLANE_KAFKA_SASL_MECHANISM": mechanism,
        "RAGPLANE_KAFKA_SASL_USERNAME": user,
        "RAGPLANE_KAFKA_SASL_PASSWORD_FILE": str(password_file),
    }


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


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_events_round_trip_over_sasl_ssl_with_the_service_clients(pki, sasl_broker, password_file, mechanism):
    proxy, _ = sasl_broker
    prefix = f"sasl-{mechanism.lower()}-"
    settings = _settings(
        f"localhost:{proxy.port}", **_sasl_env(pki, mechanism, password_file), RAGPLANE_KAFKA_TOPIC_PREFIX=prefix
    )
    first_session = len(proxy.sessions)
    ensure_topics(settings, [TOPIC])
    received: list[str] = []
    lock = threading.Lock()

    def handle(batch) -> None:
        with lock:
            received.extend(envelope.message.doc_id for envelope in batch)

    runner = ConsumerRunner(
        settings,
        topic=TOPIC,
        group=f"sasl-{uuid.uuid4().hex[:8]}",
        message_type=events_pb2.ChunksEvent,
        handler=handle,
        options=ConsumerOptions(batch_size=8),
    )
    runner.start()
    producer = EventProducer(settings, "test-sasl-producer")
    try:
        assert runner.wait_assigned(90), "the consumer never joined its group through SASL"
        sent = [f"doc-{n}" for n in range(20)]
        producer.send_many(TOPIC, [(f"t1/{doc}", _event(doc)) for doc in sent])
        deadline = time.monotonic() + 60
        while len(received) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sorted(received) == sorted(sent)
    finally:
        producer.close()
        runner.stop()
    # Each connection (admin, producer, consumer: bootstrap, leader, coordinator) ran the exchange with the
    # mechanism configured, as the configured user, before the proxy forwarded anything but ApiVersions.
    # A connection the client itself dropped before it asked for anything but ApiVersions (one still opening at
    # close) proves nothing either way; any other must have authenticated.
    sessions = [
        s
        for s in proxy.sessions[first_session:]
        if not (s.outcome.startswith(("open", "closed:")) and set(s.requests) <= {API_API_VERSIONS})
    ]
    assert len(sessions) >= 3, proxy.sessions[first_session:]
    for session in sessions:
        assert session.authenticated, session
        assert (session.mechanism, session.user) == (mechanism, USER), session
        assert session.requests[0] == API_API_VERSIONS, session
        assert session.requests[1:3] == [API_SASL_HANDSHAKE, API_SASL_AUTHENTICATE], session


@pytest.mark.parametrize(
    ("mechanism", "message"),
    [
        ("PLAIN", "Authentication failed: Invalid username or password"),
        (
            "SCRAM-SHA-512",
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        ),
    ],
)
def test_a_wrong_password_fails_with_the_brokers_message(pki, sasl_broker, tmp_path, caplog, mechanism, message):
    proxy, _ = sasl_broker
    wrong = tmp_path / "kafka-password"
    wrong.write_text("not-the-password\n")
    first_session = len(proxy.sessions)
    error = _refused(_settings(f"localhost:{proxy.port}", **_sasl_env(pki, mechanism, wrong)))
    # What a service sees: the producer does not start, and the error itself says why, naming the settings to
    # check, with the broker's message (kafka-python alone raised only "Unable to bootstrap" and logged the reason).
    assert "Unable to bootstrap" in str(error)
    assert f"SASL authentication as {USER!r} with {mechanism} failed" in str(error), str(error)
    assert "RAGPLANE_KAFKA_SASL_USERNAME" in str(error) and "RAGPLANE_KAFKA_SASL_PASSWORD_FILE" in str(error)
    assert message in str(error), str(error)
    assert f"SaslAuthenticationFailedError: {message}" in caplog.text, caplog.text[-3000:]
    sessions = proxy.sessions[first_session:]
    assert sessions and all(s.outcome == f"failed: {message}" for s in sessions), sessions
    assert not any(s.authenticated for s in sessions)


def test_a_client_without_sasl_is_refused(pki, sasl_broker):
    """A client speaking TLS but skipping SASL: its first request after ApiVersions ends the connection."""
    proxy, _ = sasl_broker
    first_session = len(proxy.sessions)
    settings = _settings(
        f"localhost:{proxy.port}",
        RAGPLANE_KAFKA_SECURITY_PROTOCOL="SSL",
        RAGPLANE_KAFKA_SSL_CAFILE=str(pki.ca),
    )
    assert "Unable to bootstrap" in str(_refused(settings))
    sessions = proxy.sessions[first_session:]
    assert sessions, "the client never reached the proxy"
    assert not any(s.authenticated for s in sessions), sessions
    assert all(API_SASL_HANDSHAKE not in s.requests for s in sessions), sessions
    assert any(s.outcome.startswith("refused: api key") for s in sessions), sessions


def test_a_mechanism_the_broker_does_not_enable_is_refused_at_the_handshake(pki, sasl_broker, password_file, caplog):
    _, broker = sasl_broker
    proxy = SaslProxy(broker.address, pki.server.cert, pki.server.key, {USER: PASSWORD}, mechanisms=("SCRAM-SHA-512",))
    proxy.start()
    try:
        _refused(_settings(f"localhost:{proxy.port}", **_sasl_env(pki, "PLAIN", password_file)))
    finally:
        proxy.stop()
    assert proxy.sessions and all(s.outcome == "refused: mechanism PLAIN is not enabled" for s in proxy.sessions)
    assert all(s.requests == [API_API_VERSIONS, API_SASL_HANDSHAKE] for s in proxy.sessions), proxy.sessions
    assert "SaslHandshake failed: UnsupportedSaslMechanismError" in caplog.text, caplog.text[-3000:]


def _raw_exchange(pki: Pki, port: int, frames: list[bytes]) -> bytes:
    """Send request frames over TLS and read until the proxy closes the connection; returns what came back."""
    context = ssl.create_default_context(cafile=str(pki.ca))
    with socket.create_connection(("localhost", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            for frame in frames:
                tls.sendall(frame)
            received = b""
            try:
                while chunk := tls.recv(4096):
                    received += chunk
            except ConnectionResetError:  # the proxy aborts a refused connection
                pass
    return received


def _request(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """A framed request with header v1 (client id "raw")."""
    payload = struct.pack(">hhih", api_key, version, correlation_id, 3) + b"raw" + body
    return struct.pack(">i", len(payload)) + payload


def test_requests_out_of_the_exchanges_order_end_the_connection(pki, sasl_broker):
    """What no kafka-python configuration sends, on the wire: SaslAuthenticate before SaslHandshake is closed
    unanswered; SaslHandshake v0 (unframed tokens) is answered UNSUPPORTED_VERSION (35) and closed; a client that
    sends nothing is closed after the authentication timeout."""
    _, broker = sasl_broker
    proxy = SaslProxy(broker.address, pki.server.cert, pki.server.key, {USER: PASSWORD}, authentication_timeout_s=1)
    proxy.start()
    try:
        token = b"\0" + USER.encode() + b"\0" + PASSWORD.encode()
        assert (
            _raw_exchange(pki, proxy.port, [_request(API_SASL_AUTHENTICATE, 1, 7, struct.pack(">i", 18) + token)])
            == b""
        )
        plain = struct.pack(">h", 5) + b"PLAIN"
        answer = _raw_exchange(pki, proxy.port, [_request(API_SASL_HANDSHAKE, 0, 8, plain)])
        assert struct.unpack_from(">iih", answer) == (len(answer) - 4, 8, 35), answer
        assert _raw_exchange(pki, proxy.port, []) == b""
    finally:
        proxy.stop()
    assert [s.outcome for s in proxy.sessions] == [
        "refused: api key 36 v1 before the handshake",
        "refused: SaslHandshake v0 (only v1 is spoken)",
        "closed: not authenticated within 1 s",
    ]
    assert not any(s.authenticated for s in proxy.sessions)


def test_scram_sha_256_server_side_replays_the_rfc_7677_example():
    """RFC 7677 section 3: user "user", password "pencil"; the server's nonce and the salt fixed as there."""
    credential = scram_credential("SCRAM-SHA-256", "pencil", salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    server = ScramServer("SCRAM-SHA-256", {"user": credential}, nonce=lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    assert server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO") == (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert server.step(final) == b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    assert (server.done, server.user) == (True, "user")
    # The same client-final with one bit of the proof flipped is refused.
    server = ScramServer("SCRAM-SHA-256", {"user": credential}, nonce=lambda: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    with pytest.raises(SaslFailure, match="invalid credentials with SASL mechanism SCRAM-SHA-256"):
        server.step(final.replace(b"p=dHzb", b"p=dHzc"))
