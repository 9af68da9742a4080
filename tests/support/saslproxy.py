"""The broker's SASL server side for the Kafka tests: a TLS proxy in front of the local broker that authenticates
every connection with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) before it forwards a byte of the client's requests.

Why, as found: Tansu 0.6.0 cannot authenticate users on its memory storage. Started with ``--authentication`` it
refuses ``tansu user create`` itself (NotAuthenticated: no user exists yet to authenticate that request), users
created without it are lost with the restart that turns it on, and its other storage engines need PostgreSQL or S3.
So the exchange a Kafka broker runs on a SASL_SSL listener runs here instead, in front of the broker, which the
tests start advertising the proxy's address: bootstrap and every later connection (partition leader, group
coordinator) pass the proxy and each authenticates. (Tansu without ``--authentication`` does answer SaslHandshake
itself, with UNSUPPORTED_SASL_MECHANISM: a client configured for SASL cannot talk to it directly at all.)

Per connection, after the TLS handshake (``TlsProxy``), the proxy reads Kafka request frames (size, api key, api
version, correlation id, client id) until the client has authenticated:

- ApiVersions (18) is forwarded to the broker and its response relayed unchanged: a client asks before SASL, and
  the broker's answer sets the versions it then uses (Tansu 0.6.0 offers SaslHandshake 0-1 and SaslAuthenticate
  0-2, so kafka-python sends SaslHandshake v1 and SaslAuthenticate v2, the flexible encoding).
- SaslHandshake (17) v1 is answered with the enabled mechanisms; a mechanism not enabled is answered
  UNSUPPORTED_SASL_MECHANISM and the connection closed.
- SaslAuthenticate (36) v0-v2 runs the chosen mechanism: PLAIN (RFC 4616) checks the user's password; SCRAM
  (RFC 5802 / 7677) answers the client-first message with the server-first (the client's nonce plus the server's,
  the user's salt and iteration count), verifies the ClientProof of the client-final message against the stored
  key and answers the ServerSignature. A failure is answered SASL_AUTHENTICATION_FAILED with Kafka's message for it,
  and the connection closed 100 ms later (Kafka's connections.failed.authentication.delay.ms; kafka-python loses a
  response that arrives together with the end of the connection).
- Any other request before authentication, or a second SaslHandshake, closes the connection unanswered, as a Kafka
  SASL listener does; nothing of it reaches the broker.

After a successful exchange, bytes flow both ways unchanged. ``sessions`` records what each connection did
(requests seen before the outcome, mechanism, user, outcome), so a test can show that the handshake took place.

What it does not do: authorization (the broker behind sees no principal, so there are no ACLs); re-authentication
(KIP-368: it sends a session lifetime of 0, so clients never re-authenticate); SaslHandshake v0 (the unframed
tokens of clients older than Kafka 1.0; answered UNSUPPORTED_VERSION and closed); SCRAM channel binding, SASLprep
of passwords and SCRAM extensions (delegation tokens); GSSAPI and OAUTHBEARER; SASL_PLAINTEXT (it speaks only
TLS). Its users are a table given at start, each password turned once into SCRAM credentials (salt, iterations,
StoredKey, ServerKey) as a broker stores them, not a credential store changed at run time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from support.tlsproxy import TlsProxy

API_SASL_HANDSHAKE = 17
API_API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36

NO_ERROR = 0
UNSUPPORTED_SASL_MECHANISM = 33
UNSUPPORTED_VERSION = 35
SASL_AUTHENTICATION_FAILED = 58

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SCRAM_HASHES = {"SCRAM-SHA-256": hashlib.sha256, "SCRAM-SHA-512": hashlib.sha512}
SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM credentials
MAX_SASL_FRAME = 512 * 1024  # Kafka's sasl.server.max.receive.size: the largest request before authentication
AUTHENTICATION_TIMEOUT_S = 30.0
FAILED_AUTHENTICATION_DELAY_S = 0.1  # Kafka's connections.failed.authentication.delay.ms


class SaslFailure(Exception):
    """The client failed to authenticate; the message is what it is told."""


# -- request frames and response encodings (Kafka protocol) -----------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One Kafka request: the fields of its header and the bytes after ``client_id``."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    rest: bytes


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self._pos + size > len(self._data):
            raise ValueError("truncated request")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def int16(self) -> int:
        return struct.unpack(">h", self.take(2))[0]

    def int32(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise ValueError("varint too long")

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def rest(self) -> bytes:
        return self._data[self._pos :]


def parse_request(frame: bytes) -> Request:
    """The header of one request frame (without its size prefix): request header v1, whose fields v2 starts with.

    Raises:
        ValueError: the frame is shorter than its header says.
    """
    reader = _Reader(frame)
    api_key, api_version, correlation_id = reader.int16(), reader.int16(), reader.int32()
    length = reader.int16()
    client_id = None if length < 0 else reader.take(length).decode("utf-8")
    return Request(api_key, api_version, correlation_id, client_id, reader.rest())


def handshake_mechanism(request: Request) -> str:
    """The mechanism a SaslHandshake (v0-v1, never flexible) request names."""
    reader = _Reader(request.rest)
    return reader.take(reader.int16()).decode("utf-8")


def authenticate_token(request: Request) -> bytes:
    """The SASL token of a SaslAuthenticate request: ``bytes`` in v0-v1; in v2 (flexible) after the header's
    tagged fields, as compact bytes (length + 1 as an unsigned varint)."""
    reader = _Reader(request.rest)
    if request.api_version >= 2:
        reader.skip_tagged_fields()
        return reader.take(reader.uvarint() - 1)
    return reader.take(reader.int32())


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">h", len(raw)) + raw


def _framed(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def handshake_response(correlation_id: int, error_code: int, mechanisms: tuple[str, ...]) -> bytes:
    """A framed SaslHandshake response, v0 and v1 alike: header v0 (correlation id), error code, mechanisms."""
    payload = struct.pack(">ihi", correlation_id, error_code, len(mechanisms)) + b"".join(map(_string, mechanisms))
    return _framed(payload)


def authenticate_response(
    version: int, correlation_id: int, error_code: int, error_message: str | None, auth_bytes: bytes
) -> bytes:
    """A framed SaslAuthenticate response of ``version``: error code, nullable error message, the server's SASL
    bytes and, from v1, the session lifetime (0: no re-authentication). v2 is flexible: response header v1
    (correlation id, tagged fields), compact string and bytes, tagged fields at the end."""
    if version >= 2:
        message = _uvarint(0) if error_message is None else _uvarint(len(error_message.encode()) + 1)
        message += b"" if error_message is None else error_message.encode()
        payload = (
            struct.pack(">i", correlation_id)
            + _uvarint(0)
            + struct.pack(">h", error_code)
            + message
            + _uvarint(len(auth_bytes) + 1)
            + auth_bytes
            + struct.pack(">q", 0)
            + _uvarint(0)
        )
        return _framed(payload)
    message = struct.pack(">h", -1) if error_message is None else _string(error_message)
    payload = struct.pack(">ih", correlation_id, error_code) + message + struct.pack(">i", len(auth_bytes))
    payload += auth_bytes + (struct.pack(">q", 0) if version >= 1 else b"")
    return _framed(payload)


# -- SASL mechanisms, server side --------------------------------------------------------------------------------


class PlainServer:
    """SASL PLAIN (RFC 4616): one message ``authzid NUL authcid NUL password``, checked against ``passwords``."""

    def __init__(self, passwords: Mapping[str, str]) -> None:
        self._passwords = passwords
        self.done = False
        self.user: str | None = None

    def step(self, token: bytes) -> bytes:
        """Check the client's message; returns the (empty) server response. Raises SaslFailure."""
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise SaslFailure(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
        try:
            authzid, user, password = (part.decode("utf-8") for part in parts)
        except UnicodeDecodeError:
            raise SaslFailure("Invalid SASL/PLAIN response: not UTF-8") from None
        if not user:
            raise SaslFailure("Authentication failed: username not specified")
        if not password:
            raise SaslFailure("Authentication failed: password not specified")
        expected = self._passwords.get(user)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise SaslFailure("Authentication failed: Invalid username or password")
        if authzid and authzid != user:
            raise SaslFailure(
                "Authentication failed: Client requested an authorization id that is different from username"
            )
        self.done, self.user = True, user
        return b""


@dataclass(frozen=True)
class ScramCredential:
    """What a broker stores for a SCRAM user: never the password."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def scram_credential(
    mechanism: str, password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> ScramCredential:
    """The SCRAM credential of ``password`` (RFC 5802 section 3): SaltedPassword = PBKDF2(password, salt, i),
    StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key")."""
    digest = SCRAM_HASHES[mechanism]
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac(digest().name, password.encode("utf-8"), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", digest)
    return ScramCredential(salt, iterations, digest(client_key).digest(), hmac.digest(salted, b"Server Key", digest))


def _attributes(message: str) -> dict[str, str]:
    """``a=x,b=y`` as a dict; a value may hold '=' (base64), never ','."""
    attributes = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise SaslFailure(f"Invalid SCRAM message attribute: {part!r}")
        attributes[key] = value
    return attributes


def _saslname(name: str) -> str:
    """RFC 5802 saslname: ',' and '=' arrive as '=2C' and '=3D'; any other '=' is invalid."""
    if "=" in name.replace("=2C", "").replace("=3D", ""):
        raise SaslFailure(f"Invalid SCRAM user name: {name!r}")
    return name.replace("=2C", ",").replace("=3D", "=")


def _server_nonce() -> str:
    return base64.b64encode(os.urandom(18)).decode()


class ScramServer:
    """SCRAM-SHA-256/512 (RFC 5802, RFC 7677) without channel binding: client-first -> server-first,
    client-final (with the ClientProof) -> server-final (the ServerSignature).

    Args:
        mechanism: SCRAM-SHA-256 or SCRAM-SHA-512.
        credentials: user -> the credential stored for it under ``mechanism``.
        nonce: makes the server's part of the nonce (fixed only to replay the RFC's example).
    """

    def __init__(
        self, mechanism: str, credentials: Mapping[str, ScramCredential], nonce: Callable[[], str] = _server_nonce
    ) -> None:
        self._mechanism = mechanism
        self._digest = SCRAM_HASHES[mechanism]
        self._credentials = credentials
        self._make_nonce = nonce
        self._credential: ScramCredential | None = None
        self._first_bare = self._server_first = self._gs2_header = self._nonce = ""
        self.done = False
        self.user: str | None = None

    def step(self, token: bytes) -> bytes:
        """Answer the client's next message. Raises SaslFailure."""
        try:
            message = token.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslFailure("Invalid SCRAM message: not UTF-8") from None
        if self.done:
            raise SaslFailure("Invalid SCRAM message: the exchange is complete")
        return self._first(message) if self._credential is None else self._final(message)

    def _first(self, message: str) -> bytes:
        cbind, _, rest = message.partition(",")
        authzid, _, bare = rest.partition(",")
        if cbind not in ("n", "y"):
            raise SaslFailure(f"Invalid SCRAM client first message: channel binding {cbind!r} is not supported")
        attributes = _attributes(bare)
        if list(attributes)[:2] != ["n", "r"] or not attributes["r"]:
            raise SaslFailure("Invalid SCRAM client first message: it must start with n=user,r=nonce")
        user = _saslname(attributes["n"])
        if authzid and _saslname(authzid.removeprefix("a=")) != user:
            raise SaslFailure("Authentication failed: Authzid must match the user name")
        credential = self._credentials.get(user)
        if credential is None:
            raise SaslFailure("Authentication failed: Invalid user credentials")
        self.user, self._credential = user, credential
        self._gs2_header, self._first_bare = f"{cbind},{authzid},", bare
        self._nonce = attributes["r"] + self._make_nonce()
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        return self._server_first.encode()

    def _final(self, message: str) -> bytes:
        credential = self._credential
        assert credential is not None
        without_proof, sep, proof = message.rpartition(",p=")
        if not sep:
            raise SaslFailure("Invalid SCRAM client final message: no proof")
        attributes = _attributes(without_proof)
        if attributes.get("c") != base64.b64encode(self._gs2_header.encode()).decode():
            raise SaslFailure("Invalid SCRAM client final message: channel binding does not match")
        if attributes.get("r") != self._nonce:
            raise SaslFailure("Invalid SCRAM client final message: nonce does not match")
        auth_message = f"{self._first_bare},{self._server_first},{without_proof}".encode()
        try:
            client_proof = base64.b64decode(proof, validate=True)
        except binascii.Error:
            raise SaslFailure("Invalid SCRAM client final message: proof is not base64") from None
        signature = hmac.digest(credential.stored_key, auth_message, self._digest)
        client_key = bytes(a ^ b for a, b in zip(client_proof, signature, strict=False))
        valid = len(client_proof) == len(signature)
        if not (valid and hmac.compare_digest(self._digest(client_key).digest(), credential.stored_key)):
            raise SaslFailure(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism "
                + self._mechanism
            )
        self.done = True
        server_signature = hmac.digest(credential.server_key, auth_message, self._digest)
        return b"v=" + base64.b64encode(server_signature)


# -- the proxy ---------------------------------------------------------------------------------------------------


@dataclass
class SaslSession:
    """What the proxy saw on one connection before it forwarded it (or closed it)."""

    requests: list[int] = field(default_factory=list)
    client_id: str | None = None
    mechanism: str | None = None
    user: str | None = None
    outcome: str = "open"

    @property
    def authenticated(self) -> bool:
        return self.outcome == "authenticated"


class SaslProxy(TlsProxy):
    """A loopback TLS proxy to the broker ``upstream`` ("host:port") that forwards a connection only after a SASL
    exchange authenticated it against ``users``.

    Args:
        upstream: the plaintext broker connections go to.
        cert, key: the certificate (and its key) the proxy presents.
        users: user name -> password; each SCRAM mechanism gets its own credential per user.
        mechanisms: the mechanisms enabled (offered in the SaslHandshake response).
        client_ca: when set, a client must also present a certificate signed by this CA.
        port: the port to listen on (a free one when 0).
        authentication_timeout_s: how long a connection may take to authenticate before it is closed.
    """

    def __init__(
        self,
        upstream: str,
        cert: Path,
        key: Path,
        users: Mapping[str, str],
        *,
        mechanisms: tuple[str, ...] = MECHANISMS,
        client_ca: Path | None = None,
        port: int = 0,
        authentication_timeout_s: float = AUTHENTICATION_TIMEOUT_S,
    ) -> None:
        super().__init__(upstream, cert, key, client_ca=client_ca, port=port)
        self._authentication_timeout_s = authentication_timeout_s
        unknown = set(mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError(f"mechanisms: {sorted(unknown)} not supported (only {', '.join(MECHANISMS)})")
        self.mechanisms = mechanisms
        self._passwords = dict(users)
        self._scram = {
            name: {user: scram_credential(name, password) for user, password in users.items()}
            for name in SCRAM_HASHES
            if name in mechanisms
        }
        self.sessions: list[SaslSession] = []

    def _mechanism_server(self, mechanism: str) -> PlainServer | ScramServer:
        if mechanism == "PLAIN":
            return PlainServer(self._passwords)
        return ScramServer(mechanism, self._scram[mechanism])

    async def _relay(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        session = SaslSession()
        self.sessions.append(session)
        try:
            async with asyncio.timeout(self._authentication_timeout_s):
                authenticated = await self._authenticate(
                    session, client_reader, client_writer, upstream_reader, upstream_writer
                )
        except TimeoutError:  # before OSError, which it is a kind of
            session.outcome = f"closed: not authenticated within {self._authentication_timeout_s} s"
            return
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            session.outcome = f"closed: {type(exc).__name__} before authentication"
            return
        except (ValueError, UnicodeDecodeError, struct.error) as exc:
            session.outcome = f"refused: malformed request before authentication ({exc})"
            return
        if authenticated:
            await super()._relay(client_reader, client_writer, upstream_reader, upstream_writer)

    async def _authenticate(
        self,
        session: SaslSession,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> bool:
        """Run the connection's requests up to the end of a SASL exchange; True once it authenticated."""
        server: PlainServer | ScramServer | None = None
        while True:
            (size,) = struct.unpack(">i", await client_reader.readexactly(4))
            if not 0 < size <= MAX_SASL_FRAME:
                session.outcome = f"refused: a {size}-byte request before authentication"
                return False
            frame = await client_reader.readexactly(size)
            request = parse_request(frame)
            session.requests.append(request.api_key)
            session.client_id = request.client_id
            if request.api_key == API_API_VERSIONS:
                upstream_writer.write(_framed(frame))
                (reply_size,) = struct.unpack(">i", await upstream_reader.readexactly(4))
                client_writer.write(_framed(await upstream_reader.readexactly(reply_size)))
                await client_writer.drain()
            elif request.api_key == API_SASL_HANDSHAKE and server is None:
                mechanism = handshake_mechanism(request)
                session.mechanism = mechanism
                if request.api_version != 1:
                    error = UNSUPPORTED_VERSION
                    session.outcome = f"refused: SaslHandshake v{request.api_version} (only v1 is spoken)"
                elif mechanism not in self.mechanisms:
                    error = UNSUPPORTED_SASL_MECHANISM
                    session.outcome = f"refused: mechanism {mechanism} is not enabled"
                else:
                    error = NO_ERROR
                client_writer.write(handshake_response(request.correlation_id, error, self.mechanisms))
                if error != NO_ERROR:
                    await _close(client_writer)
                    return False
                await client_writer.drain()
                server = self._mechanism_server(mechanism)
            elif request.api_key == API_SASL_AUTHENTICATE and server is not None and request.api_version <= 2:
                try:
                    reply = server.step(authenticate_token(request))
                except SaslFailure as failure:
                    session.outcome = f"failed: {failure}"
                    client_writer.write(
                        authenticate_response(
                            request.api_version, request.correlation_id, SASL_AUTHENTICATION_FAILED, str(failure), b""
                        )
                    )
                    await _close(client_writer)
                    return False
                client_writer.write(authenticate_response(request.api_version, request.correlation_id, 0, None, reply))
                await client_writer.drain()
                if server.done:
                    session.user, session.outcome = server.user, "authenticated"
                    return True
            else:
                # As a Kafka SASL listener does: a request out of the exchange's order ends the connection.
                stage = "after the handshake" if server is not None else "before the handshake"
                session.outcome = f"refused: api key {request.api_key} v{request.api_version} {stage}"
                return False


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close after the error response was written, as a broker does: it waits connections.failed.authentication.
    delay.ms (100 ms by default) first, and so must this. kafka-python drops what it read together with the end of
    the connection, so a response followed at once by the close would never reach it."""
    await writer.drain()
    await asyncio.sleep(FAILED_AUTHENTICATION_DELAY_S)
    writer.close()
    try:
        async with asyncio.timeout(5):
            await writer.wait_closed()
    except (TimeoutError, ConnectionError, OSError):
        writer.transport.abort()
