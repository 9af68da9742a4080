"""The local stack: broker, two Redis servers, model server, the eight gRPC services and the HTTP gateway as
processes on loopback.

The two Redis servers keep state apart from caches: ``redis`` holds caches, sessions and rate limits and evicts
the least recently used keys at its memory limit; ``state-redis`` holds ingest's document registry and version
sequences, with an append-only file and no eviction (an evicted sequence would restart a document's versions).

``up`` records every PID it starts under ``$RAGPLANE_HOME/run`` and ``down`` stops exactly those. ``up`` on a
stack that is already running changes nothing; on a partly running one it starts the services that exited, and
when the broker or a Redis server is gone it stops the rest and starts the whole stack again (the services hold
connections and consumer state of the broker that went away; the state Redis keeps its data on disk).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ragplane.cli import infra
from ragplane.runtime.services import DEFAULT_PORTS, MODEL_SERVER, metrics_port_for, spec, start_order

SERVICES = start_order()
INFRA = ("broker", "redis", "state-redis")
# States of a component that is up; anything else (EXITED, DOWN, NOT_SERVING, STARTING, MISSING) is not.
HEALTHY = frozenset({"SERVING", "UP"})
BROKER_PORT = 9092
REDIS_PORT = 6379
STATE_REDIS_PORT = 6380
# The caches Redis's memory limit: caches are rebuilt on a miss, so they may be evicted.
CACHES_MAXMEMORY = "256mb"


def home() -> Path:
    return Path(os.environ.get("RAGPLANE_HOME", Path.home() / ".ragplane")).expanduser()


def _port(name: str, default: int) -> int:
    """Port of a component, overridable as RAGPLANE_<NAME>_PORT."""
    raw = os.environ.get(f"RAGPLANE_{name.upper()}_PORT")
    if raw is None:
        return default
    if not raw.isdigit():
        raise SystemExit(f"RAGPLANE_{name.upper()}_PORT: expected a port number, got {raw!r}")
    return int(raw)


@dataclass
class Component:
    name: str
    pid: int
    port: int
    kind: str  # "infra", "model", "service"
    metrics_port: int | None = None
    log: str = ""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


_KEPT_ENV = ("RAGPLANE_", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "OTEL_", "OMP_", "CMAKE_")


def _env_file() -> Path:
    return home() / "run" / "env.json"


def _state_file() -> Path:
    return home() / "run" / "stack.json"


def load_state() -> list[Component]:
    path = _state_file()
    if not path.exists():
        return []
    return [Component(**item) for item in json.loads(path.read_text())]


def _save_state(components: list[Component]) -> None:
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(c) for c in components], indent=2))


def service_addresses() -> dict[str, str]:
    return {name: f"127.0.0.1:{_port(name, DEFAULT_PORTS[name])}" for name in DEFAULT_PORTS}


def stack_env(broker_port: int, redis_port: int, state_redis_port: int) -> dict[str, str]:
    """Environment shared by every process of the local stack."""
    env = dict(os.environ)
    env.setdefault("RAGPLANE_API_KEYS", "dev-key=default")
    # The local stack runs on the development key and the default service token (locked down in code).
    env.setdefault("RAGPLANE_ALLOW_DEV_KEY", "true")
    env["RAGPLANE_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{broker_port}"
    env["RAGPLANE_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    env["RAGPLANE_STATE_REDIS_URL"] = f"redis://127.0.0.1:{state_redis_port}/0"
    env.setdefault("RAGPLANE_DATA_DIR", str(home() / "data"))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # A server closes each connection after RAGPLANE_GRPC_MAX_CONNECTION_AGE_S (for balancing over replicas; the
    # local stack has one of each) and cuts the calls still on it after the grace. An answer generated on the CPU
    # streams for minutes on a busy machine, and a 30 s grace cut the demo's second answer with UNAVAILABLE.
    env.setdefault("RAGPLANE_GRPC_MAX_CONNECTION_AGE_GRACE_S", "900")
    for name, address in service_addresses().items():
        key = "RAGPLANE_MODEL_ADDR" if name == "modelserver" else f"RAGPLANE_{name.upper()}_ADDR"
        env.setdefault(key, address)
    return env


def health_status(address: str, service: str = "", timeout_s: float = 1.0) -> str:
    """'SERVING', 'NOT_SERVING', 'UNKNOWN' or 'DOWN'."""
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s
            )
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    except grpc.RpcError:
        return "DOWN"


def http_ready(address: str, timeout_s: float = 1.0) -> str:
    """An HTTP service's readiness (GET /readyz): 'SERVING' (200), 'NOT_SERVING' (another status) or 'DOWN'."""
    try:
        with urllib.request.urlopen(f"http://{address}/readyz", timeout=timeout_s) as reply:
            return "SERVING" if reply.status == 200 else "NOT_SERVING"
    except urllib.error.HTTPError:
        return "NOT_SERVING"
    except (urllib.error.URLError, OSError):
        return "DOWN"


def component_health(component: Component) -> str:
    """The state of a service or the model server, asked the way it serves: gRPC health, or HTTP /readyz."""
    if spec(component.name).protocol == "http":
        return http_ready(component.address)
    return health_status(component.address)


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def expected_names() -> list[str]:
    """Every component of a complete local stack, in start order."""
    names = list(INFRA)
    if _module_exists(MODEL_SERVER.module):
        names.append(MODEL_SERVER.name)
    return names + list(SERVICES)


@dataclass
class UpResult:
    """What ``up`` found and did: the stack's components and the names it started ([] when all were running);
    ``lost``: the infrastructure that had stopped, for which the whole stack was started again."""

    components: list[Component]
    started: list[str]
    lost: list[str] = field(default_factory=list)

    @property
    def already_running(self) -> bool:
        return not self.started


def up(timeout_s: float = 600.0, progress=None) -> UpResult:
    """Start the local stack, or what is missing of it; wait until every service reports SERVING.

    Raises:
        infra.InfraError: a component could not start.
    """
    existing = load_state()
    if any(infra.pid_alive(c.pid) for c in existing):
        return _complete(existing, timeout_s, progress)
    started = _start_all(timeout_s, progress)
    return UpResult(started, [c.name for c in started])


def _complete(components: list[Component], timeout_s: float, progress=None) -> UpResult:
    """Start the services of a running stack that exited or never started; wait for every service."""
    by_name = {c.name: c for c in components}
    lost = [name for name in INFRA if name not in by_name or not infra.pid_alive(by_name[name].pid)]
    if lost:
        # A new memory-only broker has no topics and no consumer offsets; the services hold connections to the
        # old one. Starting everything again is what always works; the registry's Redis keeps its data on disk.
        if progress:
            progress(f"{', '.join(lost)} not running: stopping the rest to start the whole stack again")
        down()
        started = _start_all(timeout_s, progress)
        return UpResult(started, [c.name for c in started], lost)
    env = _saved_env(by_name)
    logs = home() / "logs"
    started: list[str] = []
    for name in expected_names()[len(INFRA) :]:
        old = by_name.get(name)
        if old is not None and infra.pid_alive(old.pid):
            continue
        port = old.port if old is not None else _port(name, DEFAULT_PORTS[name])
        if infra.port_open(port):
            raise infra.InfraError(f"{name}: port {port} is already in use (set RAGPLANE_{name.upper()}_PORT)")
        if progress:
            progress(f"starting {name}")
        kind = "model" if name == MODEL_SERVER.name else "service"
        new = _spawn_component(name, spec(name).module, kind, port, env, logs)
        if old is not None:
            components[components.index(old)] = new
        else:
            components.append(new)
        _save_state(components)
        started.append(name)
    _wait_serving([c for c in components if c.kind in {"service", "model"}], timeout_s, progress)
    return UpResult(components, started)


def _start_all(timeout_s: float, progress=None) -> list[Component]:
    """Start every component on a machine where none of this stack runs."""
    run_dir = home() / "run"
    logs = home() / "logs"
    run_dir.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    components: list[Component] = []

    def note(message: str) -> None:
        if progress:
            progress(message)

    def check_free(name: str, port: int) -> None:
        if infra.port_open(port):
            raise infra.InfraError(f"{name}: port {port} is already in use (set RAGPLANE_{name.upper()}_PORT)")

    try:
        broker_port = _port("broker", BROKER_PORT)
        redis_port = _port("redis", REDIS_PORT)
        state_redis_port = _port("state_redis", STATE_REDIS_PORT)
        check_free("broker", broker_port)
        check_free("redis", redis_port)
        check_free("state_redis", state_redis_port)
        note("starting broker")
        broker_started = time.time()
        broker = infra.start_broker(broker_port, logs / "broker.log")
        components.append(Component("broker", broker.process.pid, broker_port, "infra", log=str(broker.log_path)))
        _save_state(components)
        for redis in _start_redis_servers(redis_port, state_redis_port, logs, note):
            components.append(Component(redis.name, redis.process.pid, redis.port, "infra", log=str(redis.log_path)))
            _save_state(components)
        env = stack_env(broker_port, redis_port, state_redis_port)
        # The broker keeps topics in memory: documents the registry still had on their way when it started lost
        # their events, and ingest fails them at once instead of after RAGPLANE_INGEST_STUCK_AFTER_S.
        env["RAGPLANE_INGEST_EVENTS_LOST_BEFORE"] = repr(broker_started)
        _env_file().write_text(json.dumps({k: v for k, v in env.items() if k.startswith(_KEPT_ENV)}, indent=2))
        _env_file().chmod(0o600)

        from ragplane.runtime.kafka import ALL_TOPICS, ensure_topics
        from ragplane.runtime.settings import CommonSettings, load_settings

        note("creating topics")
        ensure_topics(load_settings(CommonSettings, env), ALL_TOPICS)

        to_start: list[tuple[str, str, str]] = []
        if _module_exists(MODEL_SERVER.module):
            to_start.append((MODEL_SERVER.name, MODEL_SERVER.module, "model"))
        to_start += [(name, spec(name).module, "service") for name in SERVICES]
        for name, module, kind in to_start:
            port = _port(name, DEFAULT_PORTS[name])
            check_free(name, port)
            note(f"starting {name}")
            components.append(_spawn_component(name, module, kind, port, env, logs))
            _save_state(components)

        _wait_serving([c for c in components if c.kind in {"service", "model"}], timeout_s, note)
        return components
    except BaseException:
        down()
        raise


def _start_redis_servers(redis_port: int, state_redis_port: int, logs: Path, note) -> Iterator[infra.Proc]:
    """Start the caches Redis (LRU at its limit), then the state Redis (append-only file, never evicting)."""
    note("starting redis (caches)")
    yield infra.start_redis(
        redis_port, home() / "data" / "redis", logs / "redis.log", maxmemory=CACHES_MAXMEMORY, eviction="allkeys-lru"
    )
    note("starting state-redis (document registry)")
    yield infra.start_redis(
        state_redis_port,
        home() / "data" / "state-redis",
        logs / "state-redis.log",
        eviction="noeviction",
        name="state-redis",
    )


def _metrics_port(name: str, grpc_port: int) -> int:
    """9100 + the last two digits of the gRPC port, or RAGPLANE_<NAME>_METRICS_PORT."""
    return _port(f"{name}_metrics", metrics_port_for(grpc_port))


def _spawn_component(name: str, module: str, kind: str, port: int, env: dict[str, str], logs: Path) -> Component:
    metrics_port = _metrics_port(name, port)
    child_env = dict(env)
    child_env[spec(name).listen_env] = f"127.0.0.1:{port}"
    child_env["RAGPLANE_METRICS_LISTEN"] = f"127.0.0.1:{metrics_port}"
    log_path = logs / f"{name}.log"
    process = infra._spawn([sys.executable, "-m", module], log_path, child_env)
    return Component(name, process.pid, port, kind, metrics_port, str(log_path))


def _wait_serving(components: list[Component], timeout_s: float, note=None) -> None:
    deadline = time.monotonic() + timeout_s
    pending = {c.name: c for c in components}
    while pending:
        for name, component in list(pending.items()):
            if not infra.pid_alive(component.pid):
                tail = Path(component.log).read_text(errors="replace")[-2000:] if component.log else ""
                raise infra.InfraError(f"{name} exited during start; last log lines:\n{tail}")
            if component_health(component) == "SERVING":
                if note:
                    note(f"{name} SERVING")
                del pending[name]
        if time.monotonic() > deadline:
            raise infra.InfraError(f"not SERVING after {timeout_s:.0f}s: {', '.join(sorted(pending))}")
        time.sleep(0.25)


def restart(name: str, timeout_s: float = 600.0) -> Component:
    """Start one service of the running stack again (after it crashed or was killed), same port and settings.

    Raises:
        SystemExit: the stack is not running, or ``name`` is not one of its services.
    """
    components = load_state()
    by_name = {c.name: c for c in components}
    if name not in by_name or by_name[name].kind == "infra":
        raise SystemExit(f"{name!r} is not a service of the running local stack")
    if not {"broker", "redis", "state-redis"} <= by_name.keys():
        raise SystemExit("the local stack is not running; start it with 'ragplane up'")
    old = by_name[name]
    if infra.pid_alive(old.pid):
        infra.stop_pid(old.pid)
    env = _saved_env(by_name)
    new = _spawn_component(name, spec(name).module, old.kind, old.port, env, home() / "logs")
    components[components.index(old)] = new
    _save_state(components)
    _wait_serving([new], timeout_s)
    return new


def _saved_env(by_name: dict[str, Component]) -> dict[str, str]:
    """The environment the running stack was started with (not this shell's), for the services started later."""
    env = dict(os.environ)
    if _env_file().exists():
        env.update(json.loads(_env_file().read_text()))
    return stack_env(by_name["broker"].port, by_name["redis"].port, by_name["state-redis"].port) | {
        k: v for k, v in env.items() if k.startswith(_KEPT_ENV)
    }


def down(timeout_s: float = 20.0) -> list[tuple[str, int, bool]]:
    """Stop every process ``up`` started (services first, infrastructure last)."""
    components = load_state()
    stopped = []
    for component in reversed(components):
        was_running = infra.stop_pid(component.pid, timeout_s)
        stopped.append((component.name, component.pid, was_running))
    if _state_file().exists():
        _state_file().unlink()
    return stopped


def status() -> list[tuple[Component, str]]:
    """Each recorded component with its state: SERVING / NOT_SERVING / DOWN (services), UP / STARTING (infra),
    or EXITED. Components the stack should have but never recorded are in ``missing()``."""
    rows = []
    for component in load_state():
        if not infra.pid_alive(component.pid):
            state = "EXITED"
        elif component.kind == "infra":
            state = "UP" if infra.port_open(component.port) else "STARTING"
        else:
            state = component_health(component)
        rows.append((component, state))
    return rows


def missing(rows: list[tuple[Component, str]]) -> list[str]:
    """Names of the components a complete stack runs that ``rows`` does not list."""
    listed = {component.name for component, _ in rows}
    return [name for name in expected_names() if name not in listed]


@dataclass
class PrivateStack:
    home: Path
    env: dict[str, str]
    components: list[Component]

    def address(self, name: str) -> str:
        return next(c.address for c in self.components if c.name == name)

    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in load_state_at(self.home)}


def load_state_at(stack_home: Path) -> list[Component]:
    path = stack_home / "run" / "stack.json"
    return [Component(**item) for item in json.loads(path.read_text())] if path.exists() else []


class private_stack:  # noqa: N801 - used as a context manager
    """A separate local stack on free ports in a temporary home (benchmarks, tests); stopped on exit."""

    def __init__(self, extra_env: dict[str, str] | None = None, timeout_s: float = 900.0) -> None:
        import tempfile

        self._home = Path(tempfile.mkdtemp(prefix="ragplane-stack-"))
        self._env = dict(os.environ)
        self._env.update(extra_env or {})
        self._env["RAGPLANE_HOME"] = str(self._home)
        for name in ("broker", "redis", "state_redis", *DEFAULT_PORTS):
            self._env[f"RAGPLANE_{name.upper()}_PORT"] = str(infra.free_port())
        for name in DEFAULT_PORTS:
            self._env[f"RAGPLANE_{name.upper()}_METRICS_PORT"] = str(infra.free_port())
        self._timeout_s = timeout_s

    def __enter__(self) -> PrivateStack:
        import subprocess

        started = subprocess.run(
            [sys.executable, "-m", "ragplane.cli.main", "up", "--json", "--timeout", str(self._timeout_s)],
            env=self._env,
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            self.__exit__(None, None, None)
            raise infra.InfraError(f"the stack did not start:\n{started.stderr[-3000:]}")
        components = load_state_at(self._home)
        self._env["RAGPLANE_ADDR"] = next(c.address for c in components if c.name == "orchestrator")
        for component in components:
            if component.kind == "service":
                self._env[f"RAGPLANE_{component.name.upper()}_ADDR"] = component.address
        return PrivateStack(self._home, self._env, components)

    def __exit__(self, *exc) -> None:
        import subprocess

        subprocess.run([sys.executable, "-m", "ragplane.cli.main", "down"], env=self._env, capture_output=True)
