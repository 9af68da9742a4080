"""Fixtures of the fault tests: Redis and a broker of their own behind TCP proxies that can cut them off, and a
vector store whose calls can be made to fail."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from support.processes import free_port
from support.tcpproxy import TcpProxy

from ragplane.cli import infra
from ragplane_retrieve.store.base import StoreError, VectorStore

# Calls that reach the engine; open/close and the plain attributes pass through even while the store is down.
STORE_CALLS = frozenset(
    {
        "upsert",
        "delete",
        "promote",
        "search",
        "scroll_doc",
        "count",
        "doc_states",
        "tenant_states",
        "save_states",
        "count_documents",
        "unindexed_points",
        "optimize",
    }
)


class FlakyStore:
    """A vector store that raises ``StoreError`` from every engine call while ``down`` (an outage of the store).

    Args:
        store: the real store the calls go to otherwise.
    """

    def __init__(self, store: VectorStore) -> None:
        self._store = store
        self._down = threading.Event()
        self.failed_calls = 0

    @property
    def down(self) -> bool:
        return self._down.is_set()

    def cut(self) -> None:
        self._down.set()

    def restore(self) -> None:
        self._down.clear()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if name not in STORE_CALLS:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._down.is_set():
                self.failed_calls += 1
                raise StoreError(f"vector store unavailable: {name} failed")
            return attribute(*args, **kwargs)

        return call


def start_broker_behind(proxy_port: int, log_path: Path) -> infra.Proc:
    """A Tansu broker on a free port that advertises ``proxy_port``, so clients reach it only through the proxy
    (a Kafka client connects to the advertised address after bootstrap)."""
    port = free_port()
    args: Sequence[str] = [
        infra.broker_binary(),
        "broker",
        "--listener-url",
        f"tcp://127.0.0.1:{port}",
        "--advertised-listener-url",
        f"tcp://127.0.0.1:{proxy_port}",
        "--storage-engine",
        "memory://tansu/",
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(args), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        infra.wait_port(port, 30, process, "broker")
    except infra.InfraError:
        infra.stop_pid(process.pid, 2)
        raise
    return infra.Proc("broker", process, port, log_path)


@pytest.fixture
def broker_proxy(tmp_path: Path) -> Iterator[TcpProxy]:
    """A broker of this test's own, reachable only through the returned proxy (``proxy.address``)."""
    proxy_port = free_port()
    broker = start_broker_behind(proxy_port, tmp_path / "broker.log")
    proxy = TcpProxy(broker.address, port=proxy_port).start()
    yield proxy
    proxy.stop()
    broker.stop()


@pytest.fixture
def flaky_store() -> type[FlakyStore]:
    """``flaky_store(store)``: the store behind a switch that makes its calls fail (``cut``/``restore``)."""
    return FlakyStore


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[TcpProxy]:
    """A proxy in front of the session's Redis (``redis://{proxy.address}/0``)."""
    address = redis_url.removeprefix("redis://").rsplit("/", 1)[0]
    proxy = TcpProxy(address).start()
    yield proxy
    proxy.stop()
