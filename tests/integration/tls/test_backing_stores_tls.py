"""TLS to the backing stores: Redis over rediss:// verified with the CA (ingest's registry and the orchestrator's
client), and the Kafka clients' SSL/SASL configuration.

The local broker (Tansu 0.6.0) starts a tls:// listener from a PEM with certificate and key, but answers no TLS
handshake on it (kafka-python's bootstrap and a plain Python ssl handshake both time out; --cert and --key
together are refused), and its SASL needs users that ``tansu user create`` could not add to the memory storage
engine. So here the Kafka tests check the configuration the producers, consumers and admin client are built
with (and that kafka-python accepts it); test_kafka_tls_session.py runs a TLS session with the broker through a
TLS-terminating proxy in front of it, and test_kafka_sasl_session.py a SASL_SSL session through a proxy that
also runs the broker's side of the SASL exchange.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from kafka import KafkaProducer

from ragplane.runtime.kafka import client_config
from ragplane.runtime.settings import CommonSettings, SettingsError, load_settings
from ragplane.runtime.tls import redis_tls_options
from ragplane_ingest.registry import Registry

pytestmark = pytest.mark.integration


async def test_the_registry_talks_to_a_tls_redis_verified_with_the_ca(pki, tls_redis_url):
    registry = Registry.from_url(tls_redis_url, "tls-test", ca_file=str(pki.ca))
    try:
        await registry.ping()
    finally:
        await registry.close()


async def test_a_tls_redis_is_refused_without_the_ca_or_in_plaintext(pki, tls_redis_url):
    untrusted = aioredis.from_url(tls_redis_url, **redis_tls_options(tls_redis_url, str(pki.foreign_ca)))
    plaintext = aioredis.from_url(tls_redis_url.replace("rediss://", "redis://"), socket_timeout=3)
    try:
        with pytest.raises(aioredis.ConnectionError, match="certificate verify failed"):
            await untrusted.ping()
        with pytest.raises((aioredis.ConnectionError, aioredis.TimeoutError)):
            await plaintext.ping()
    finally:
        await untrusted.aclose()
        await plaintext.aclose()


async def test_the_redis_host_name_is_checked_against_the_certificate(pki, tls_redis_url):
    """The certificate names localhost and 127.0.0.1; a name it does not carry is refused."""
    wrong = tls_redis_url.replace("localhost", "127.0.0.2")
    client = aioredis.from_url(wrong, socket_connect_timeout=3, **redis_tls_options(wrong, str(pki.ca)))
    try:
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()
    finally:
        await client.aclose()


def _kafka(**overrides) -> CommonSettings:
    return load_settings(CommonSettings, {}, kafka_bootstrap="broker-0:9093,broker-1:9093", **overrides)


def test_kafka_sasl_ssl_takes_the_password_from_a_mounted_file_and_verifies_the_brokers(pki, tmp_path):
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    config = client_config(
        _kafka(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="ragplane",
            kafka_sasl_password_file=str(password),
            kafka_ssl_cafile=str(pki.ca),
        )
    )
    assert config == {
        "bootstrap_servers": ["broker-0:9093", "broker-1:9093"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ragplane",
        "sasl_plain_password": "s3cret",
        "ssl_check_hostname": True,
        "ssl_cafile": str(pki.ca),
    }
    # kafka-python accepts exactly these arguments (it fails on an unknown one before connecting).
    with pytest.raises(Exception, match="(?i)bootstrap|resolve|connect|timed out") as failed:
        KafkaProducer(**config, bootstrap_timeout_ms=500, request_timeout_ms=500)
    assert not isinstance(failed.value, TypeError)


def test_kafka_mutual_tls_presents_the_client_certificate(pki):
    config = client_config(
        _kafka(
            kafka_security_protocol="SSL",
            kafka_ssl_cafile=str(pki.ca),
            kafka_ssl_certfile=str(pki.client.cert),
            kafka_ssl_keyfile=str(pki.client.key),
        )
    )
    assert config["ssl_certfile"] == str(pki.client.cert)
    assert config["ssl_keyfile"] == str(pki.client.key)
    assert "sasl_mechanism" not in config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "RAGPLANE_KAFKA_SASL_MECHANISM: required with security protocol"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "u"},
            "RAGPLANE_KAFKA_SASL_PASSWORD: required",
        ),
        ({"kafka_sasl_mechanism": "PLAIN"}, "RAGPLANE_KAFKA_SASL_MECHANISM: set, but .* is PLAINTEXT"),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "u",
                "kafka_sasl_password_file": "/nonexistent/password",
            },
            "RAGPLANE_KAFKA_SASL_PASSWORD_FILE: cannot read it",
        ),
    ],
)
def test_a_kafka_security_configuration_that_cannot_work_is_refused_naming_the_variable(overrides, message):
    with pytest.raises(SettingsError, match=message):
        client_config(_kafka(**overrides))


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RAGPLANE_KAFKA_SECURITY_PROTOCOL", "TLS", "must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
        ("RAGPLANE_KAFKA_SASL_MECHANISM", "GSSAPI", "must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
        ("RAGPLANE_TLS_CLIENT_AUTH", "optional", "must be one of none, require"),
    ],
)
def test_unknown_security_values_are_refused_at_start(variable, value, message):
    with pytest.raises(SettingsError, match=f"{variable}: {message}"):
        load_settings(CommonSettings, {variable: value})
