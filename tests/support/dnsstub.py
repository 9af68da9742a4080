"""A UDP name server for one name, controlled by the test: ``dns://127.0.0.1:PORT/<name>:<port>`` targets resolve
through it, so a test can add a replica to a headless Service's answer while channels are open."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator


class NameServer(asyncio.DatagramProtocol):
    """A records of ``hosts`` for ``name`` (TTL 0, nothing cached), NXDOMAIN for any other name."""

    def __init__(self, name: str, hosts: list[str]) -> None:
        self.name = name
        self.hosts = hosts
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        end = 12
        while data[end]:  # the question's name, label by label
            end += data[end] + 1
        question = data[12 : end + 5]
        qtype, labels = struct.unpack("!H", data[end + 1 : end + 3])[0], _labels(data[12 : end + 1])
        hosts = self.hosts if qtype == 1 and labels == self.name else []
        rcode = 0 if labels == self.name else 3
        header = data[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, len(hosts), 0, 0)
        answers = b"".join(struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(host) for host in hosts)
        self.transport.sendto(header + question + answers, addr)


def _labels(name: bytes) -> str:
    labels, at = [], 0
    while name[at]:
        labels.append(name[at + 1 : at + 1 + name[at]].decode())
        at += name[at] + 1
    return ".".join(labels)


@contextlib.asynccontextmanager
async def name_server(name: str, hosts: list[str]) -> AsyncIterator[tuple[NameServer, int]]:
    """Serve ``name`` -> ``hosts`` on a loopback UDP port; yield the server (change ``hosts`` live) and the port."""
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        lambda: NameServer(name, hosts), local_addr=("127.0.0.1", 0)
    )
    try:
        yield server, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()
