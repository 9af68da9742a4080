"""TLS material for tests: a CA, server certificates with SANs and client certificates (``cryptography``).

``issue_pki(folder)`` writes what a deployment would mount from Secrets: ca.crt (and ca.key, to issue more),
server.crt/.key for localhost, 127.0.0.1 and any extra DNS names, client.crt/.key signed by the same CA, and a
second CA with a client certificate of its own (an identity the services must not trust).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """Paths of the files ``issue_pki`` wrote."""

    ca: Path
    server: KeyPair
    client: KeyPair
    # Signed by another CA: presents a certificate, but not one the services trust.
    foreign_client: KeyPair
    foreign_ca: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    common_name: str,
    *,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    server: bool = True,
    client: bool = True,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf certificate signed by ``ca`` for ``common_name`` with the given SANs and extended key usages."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = [
        u for u, on in ((ExtendedKeyUsageOID.SERVER_AUTH, server), (ExtendedKeyUsageOID.CLIENT_AUTH, client)) if on
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
    sans.extend(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def write_pair(pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], folder: Path, stem: str) -> KeyPair:
    """``<stem>.crt`` and ``<stem>.key`` under ``folder``."""
    paths = KeyPair(folder / f"{stem}.crt", folder / f"{stem}.key")
    _write_cert(pair[0], paths.cert)
    _write_key(pair[1], paths.key)
    return paths


def issue_pki(folder: Path, *, dns: tuple[str, ...] = ()) -> Pki:
    """Write a CA, a server certificate (localhost, 127.0.0.1, ``dns``), a client certificate and a foreign one.

    Args:
        folder: where the files go (created).
        dns: more DNS names for the server certificate (service names of a cluster scenario).
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca("ragplane test CA")
    _write_cert(ca[0], folder / "ca.crt")
    _write_key(ca[1], folder / "ca.key")
    server = write_pair(issue(ca, "ragplane-server", dns=("localhost", *dns), ips=("127.0.0.1",)), folder, "server")
    client = write_pair(issue(ca, "ragplane-client", server=False), folder, "client")
    other = _ca("someone else's CA")
    _write_cert(other[0], folder / "foreign-ca.crt")
    foreign = write_pair(issue(other, "ragplane-client", server=False), folder, "foreign-client")
    return Pki(folder / "ca.crt", server, client, foreign, folder / "foreign-ca.crt")
