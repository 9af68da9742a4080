"""A DNS server on loopback that answers a headless Service's name with the addresses of its ready replicas.

gRPC's c-ares resolver takes a DNS server in the target's authority (``dns://127.0.0.1:PORT/name:port``), so a
client resolves the chart's headless names exactly as in a cluster, re-resolving when a connection closes; the
test changes the answer when a replica starts or stops, as the endpoints controller would.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterable

_A, _AAAA, _IN = 1, 28, 1
_NXDOMAIN = 3
TTL_S = 1


class DnsServer:
    """A/AAAA answers for the names given in ``records`` ({name: [IPv4 address, ...]}); other names NXDOMAIN."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._records: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self.address = f"{host}:{self._sock.getsockname()[1]}"
        self.queries = 0
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)
        self._stopped = False

    def start(self) -> DnsServer:
        self._thread.start()
        return self

    def set(self, name: str, addresses: Iterable[str]) -> None:
        """Answer ``name`` (without a trailing dot) with ``addresses`` from now on."""
        with self._lock:
            self._records[name.rstrip(".").lower()] = list(addresses)

    def stop(self) -> None:
        self._stopped = True
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopped:
            try:
                packet, peer = self._sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = self._answer(packet)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue
            self.queries += 1
            try:
                self._sock.sendto(reply, peer)
            except OSError:
                return

    def _answer(self, packet: bytes) -> bytes:
        (query_id, flags) = struct.unpack("!HH", packet[:4])
        labels, offset = [], 12
        while packet[offset]:
            length = packet[offset]
            labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii"))
            offset += 1 + length
        qtype, qclass = struct.unpack("!HH", packet[offset + 1 : offset + 5])
        question = packet[12 : offset + 5]
        name = ".".join(labels).lower()
        with self._lock:
            addresses = self._records.get(name)
        answers = b""
        count = 0
        rcode = 0
        if addresses is None:
            rcode = _NXDOMAIN
        elif qtype == _A and qclass == _IN:
            for address in addresses:
                answers += struct.pack("!HHHIH", 0xC00C, _A, _IN, TTL_S, 4) + socket.inet_aton(address)
                count += 1
        # AAAA and anything else of a known name: no answers (NOERROR), as for an IPv4-only Service.
        header = struct.pack("!HHHHHH", query_id, 0x8180 | (flags & 0x0100) | rcode, 1, count, 0, 0)
        return header + question + answers
