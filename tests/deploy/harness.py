"""Boot a rendered chart as processes: every workload of ours from its plan, with the README's substitutions.

``Deployment(rendered, kafka_bootstrap, workdir)`` starts the Redis servers the rendered URLs name (with their
passwords), a DNS server for the headless names, runs the chart's Jobs (the topic hook) to completion, starts
each Deployment's replicas as the pod's user and waits until every one is SERVING. A replica that exits or
never becomes SERVING raises ``BootFailure`` with its last log lines.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import httpx
from deploy.dns import DnsServer
from deploy.plan import (
    LLM_SERVERS,
    NOT_BOOTED,
    STAND_IN_CHAT_TEMPLATE,
    Endpoint,
    LocalProcess,
    Substitutions,
    WorkloadPlan,
    generated_secrets,
    localize,
    plan,
    service_host_map,
    stand_in_llm,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ragplane.cli import infra

LOG_LINES = 40
BOOT_TIMEOUT_S = float(os.environ.get("RAGPLANE_BOOT_TIMEOUT_S", "240"))
JOB_TIMEOUT_S = 120.0
IS_ROOT = os.geteuid() == 0


@functools.cache
def switches_user() -> bool:
    """Whether replicas run as their pod's user: the tests run as root and, when the interpreter sits in a private
    home, may make a mount namespace to show it (else they run as the current user, read-only paths emulated by
    permissions, which root ignores)."""
    if not IS_ROOT:
        return False
    hidden = _blocked_interpreter_dir()
    if hidden is None:
        return True
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


class BootFailure(AssertionError):
    """Workloads exited or never became SERVING; ``failures`` maps each to a line and its last log lines."""

    def __init__(self, summary: str, failures: dict[str, str] | None = None) -> None:
        self.failures = dict(failures or {})
        super().__init__("\n\n".join([summary, *self.failures.values()]))


@dataclass
class Replica:
    local: LocalProcess
    process: subprocess.Popen
    log_path: Path
    started_at: float
    serving_at: float | None = None

    @property
    def label(self) -> str:
        return f"{self.local.name}-{self.local.replica}"

    def log_tail(self, lines: int = LOG_LINES) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def health(self) -> str:
        if self.local.health_path is not None:
            scheme = self.local.health_scheme.lower()
            ca = self.local.env.get("RAGPLANE_TLS_CA_FILE", "") if scheme == "https" else ""
            return _http_health(f"{scheme}://{self.local.address}{self.local.health_path}", ca)
        try:
            with grpc.insecure_channel(self.local.address) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError:
            return "DOWN"

    def stop(self, timeout_s: float = 30) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _http_health(url: str, ca_file: str = "") -> str:
    """An HTTP readiness probe as the kubelet judges it: SERVING for a 2xx or 3xx answer. Over HTTPS the chain is
    verified with ``ca_file`` (the kubelet verifies nothing); the host is a loopback address, not the Service name
    the certificate is for, so the name is checked by the tests' own requests (``Deployment.http``)."""
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=ca_file or None)
        context.check_hostname = False
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as reply:
            return "SERVING" if 200 <= reply.status < 400 else "NOT_SERVING"
    except urllib.error.HTTPError:
        return "NOT_SERVING"
    except (urllib.error.URLError, OSError):
        return "DOWN"


def _blocked_interpreter_dir() -> tuple[Path, Path] | None:
    """(a directory other users cannot enter, its child holding the interpreter), or None when it is reachable.

    The venv's interpreter may live in a private home (pyenv under /root, mode 0700), which the pod's user could
    not enter; the image has its interpreter in /usr/local. The harness then shows the pod only that child.
    """
    real = Path(os.path.realpath(sys.executable))
    for parent in reversed(real.parents):
        if parent == Path("/"):
            continue
        if not parent.stat().st_mode & 0o001:
            return parent, parent / real.relative_to(parent).parts[0]
    return None


def _as_user_with_interpreter(
    argv: list[str], user: int, group: int, hidden: tuple[Path, Path], stage: Path
) -> list[str]:
    """argv run as ``user`` in a private mount namespace where the interpreter's private parent is an empty
    tmpfs holding only the interpreter's tree (nothing else of that home is visible)."""
    blocked, child = hidden
    stage.mkdir(exist_ok=True)
    script = (
        "set -e; mount --make-rprivate /; "
        f"mount --bind {shlex.quote(str(child))} {shlex.quote(str(stage))}; "
        f"mount -t tmpfs -o mode=755,size=1m tmpfs {shlex.quote(str(blocked))}; "
        f"mkdir -p {shlex.quote(str(child))}; "
        f"mount --bind {shlex.quote(str(stage))} {shlex.quote(str(child))}; "
        f'exec setpriv --reuid={user} --regid={group} --clear-groups --inh-caps=-all "$@"'
    )
    return ["unshare", "--mount", "sh", "-c", script, "sh", *argv]


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def free_port_on(hosts: list[str]) -> int:
    """A port free on every one of ``hosts`` (the replicas of a headless Service share one port)."""
    for _ in range(200):
        port = infra.free_port()
        if all(_bindable(h, port) for h in hosts):
            return port
    raise RuntimeError(f"no port free on all of {hosts}")


@dataclass
class Deployment:
    """A rendered chart running as processes here (a context manager; everything stops on exit).

    Args:
        rendered: the rendered chart.
        kafka_bootstrap: the local broker.
        replicas: per workload, how many replicas to start (default 1 each: the scenarios boot the same code;
            the balancing test asks for more), and ``spare`` replicas to reserve addresses for.
        extra_env: per workload ("*" for every one), variables added after the substitutions (tests only).
    """

    rendered: object
    kafka_bootstrap: str
    replicas: Mapping[str, int] = field(default_factory=dict)
    spare: Mapping[str, int] = field(default_factory=dict)
    extra_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    boot_timeout_s: float = BOOT_TIMEOUT_S

    def __post_init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ragplane-boot-"))
        self.root.chmod(0o755)
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.secrets = generated_secrets(self.rendered)
        self.plans = plan(self.rendered, self.secrets)
        stand_in = self.stand_in = stand_in_llm(self.plans, self.rendered)
        if stand_in is not None:
            self.plans.append(stand_in)
        self.by_name = {p.name: p for p in self.plans}
        self.running: list[Replica] = []
        self.infra: list[subprocess.Popen] = []
        self.dns: DnsServer | None = None
        self.timings: dict[str, float] = {}
        self._added: dict[str, int] = {}

    # ---- life cycle ----

    def __enter__(self) -> Deployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        began = time.monotonic()
        unknown = [p.name for p in self.plans if not p.ours and p.name not in LLM_SERVERS | NOT_BOOTED.keys()]
        assert not unknown, f"workloads neither booted nor substituted (extend tests/deploy/README.md): {unknown}"
        self.not_booted = {p.name: NOT_BOOTED[p.name] for p in self.plans if p.name in NOT_BOOTED}
        ours = [p for p in self.plans if p.ours and p.name not in NOT_BOOTED]
        self.dns = DnsServer().start()
        self.endpoints = self._endpoints(ours)
        self.subs = Substitutions(
            root=self.root / "pods",
            endpoints=self.endpoints,
            kafka_bootstrap=self.kafka_bootstrap,
            redis_url=self._redis("RAGPLANE_REDIS_URL", "redis"),
            state_redis_url=self._redis("RAGPLANE_STATE_REDIS_URL", "state-redis"),
            qdrant_root=self.root / "qdrant",
            dns_server=self.dns.address,
            stand_in_template=STAND_IN_CHAT_TEMPLATE if self.stand_in else None,
            extra_env={k: dict(v) for k, v in self.extra_env.items()},
        )
        self.subs.root.mkdir(mode=0o755)
        self.subs.qdrant_root.mkdir(mode=0o755)
        self._publish_dns()
        self._strimzi_topics()
        for job in (p for p in ours if p.kind == "Job"):
            self._run_job(job)
        for the_plan in ours:
            if the_plan.kind == "Job":
                continue
            for replica in range(self.replicas.get(the_plan.name, 1)):
                self.start_replica(the_plan.name, replica)
        self.wait_serving()
        self.timings["boot_s"] = time.monotonic() - began

    def stop(self) -> None:
        # SIGTERM to every replica at once (each drains for its grace period), then wait for all.
        for replica in self.running:
            if replica.process.poll() is None:
                replica.process.terminate()
        for replica in reversed(self.running):
            replica.stop()
        for process in self.infra:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        if self.dns is not None:
            self.dns.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- what stands in for the cluster ----

    def _endpoints(self, ours: list[WorkloadPlan]) -> dict[str, Endpoint]:
        endpoints: dict[str, Endpoint] = {}
        base = 20 + os.getpid() % 200
        for index, the_plan in enumerate(ours):
            count = max(1, self.replicas.get(the_plan.name, 1)) + self.spare.get(the_plan.name, 0)
            hosts = [f"127.{base}.{index + 1}.{r + 1}" for r in range(count)]
            ports = {port: free_port_on(hosts) for port in the_plan.ports.values()}
            endpoints[the_plan.name] = Endpoint(hosts, ports)
        return endpoints

    def _publish_dns(self) -> None:
        """Answer every Service name with the addresses of the workload's started replicas (not the spares)."""
        assert self.dns is not None
        for alias, (workload, _) in service_host_map(self.rendered, self.subs.namespace).items():
            target = self.subs.llm_workload if workload in LLM_SERVERS else workload
            if target not in self.endpoints:
                continue
            count = max(1, self.replicas.get(target, 1)) + self._added.get(target, 0)
            self.dns.set(alias, self.endpoints[target].hosts[:count])

    def _redis(self, key: str, name: str) -> str:
        """Start the Redis server a rendered URL names (requiring its password, if it has one)."""
        urls = [p.env[key] for p in self.plans if p.ours and key in p.env]
        password = urlsplit(urls[0]).password if urls else None
        port = infra.free_port()
        args = [infra.redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if password:
            args += ["--requirepass", password]
        log = (self.logs / f"{name}.log").open("wb")
        self.infra.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
        infra.wait_port(port, 15, self.infra[-1], name)
        return f"redis://127.0.0.1:{port}/0"

    def _strimzi_topics(self) -> None:
        """KafkaTopic resources are applied by the Strimzi operator, not our code: create them as it would."""
        topics = [o for o in self.rendered.objects if o["kind"] == "KafkaTopic"]
        if not topics:
            return
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap, client_id="test-strimzi")
        try:
            existing = set(admin.list_topics())
            new = [
                NewTopic(t["spec"]["topicName"], t["spec"]["partitions"], 1)
                for t in topics
                if t["spec"]["topicName"] not in existing
            ]
            if new:
                admin.create_topics(new)
        finally:
            admin.close()

    # ---- processes ----

    def _materialize(self, local: LocalProcess) -> None:
        """The replica's view of the pod: files read-only, its writable mounts its own, the rest not writable."""
        local.root.mkdir(parents=True, exist_ok=True)
        for path, data in local.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o444)
        writable = list(local.writable)
        qdrant = local.env.get("RAGPLANE_QDRANT_URL", "")
        if qdrant.startswith("file://"):
            writable.append(Path(qdrant.removeprefix("file://")))
        for path in writable:
            path.mkdir(parents=True, exist_ok=True)
            if switches_user() and local.user is not None:
                os.chown(path, local.user, local.group if local.group is not None else local.user)
            path.chmod(0o700 if switches_user() else 0o755)
        local.cwd.mkdir(parents=True, exist_ok=True)
        for path in local.root.rglob("*"):
            if path.is_dir() and path not in writable and not any(path.is_relative_to(w) for w in writable):
                path.chmod(0o755 if switches_user() else 0o555)
        local.root.chmod(0o755 if switches_user() else 0o555)

    def _spawn(self, local: LocalProcess) -> Replica:
        self._materialize(local)
        log_path = self.logs / f"{local.name}-{local.replica}.log"
        user_args: dict = {}
        argv = list(local.argv)
        if switches_user() and local.user is not None:
            group = local.group if local.group is not None else local.user
            hidden = _blocked_interpreter_dir()
            if hidden is None:
                user_args = {"user": local.user, "group": group, "extra_groups": []}
            else:
                argv = _as_user_with_interpreter(argv, local.user, group, hidden, self.root / "interpreter")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                env=local.env,
                cwd=local.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **user_args,
            )
        return Replica(local, process, log_path, time.monotonic())

    def _run_job(self, job: WorkloadPlan) -> None:
        local = localize(job, self.rendered, self.by_name, self.subs)
        replica = self._spawn(local)
        try:
            code = replica.process.wait(timeout=JOB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            replica.stop(5)
            raise BootFailure(f"Job {job.name} did not finish in {JOB_TIMEOUT_S}s:\n{replica.log_tail()}") from None
        if code != 0:
            raise BootFailure(f"Job {job.name} failed ({code}); last log lines:\n{replica.log_tail()}")

    def start_replica(self, name: str, replica: int) -> Replica:
        """Start replica ``replica`` of workload ``name`` (its address is reserved in the endpoints)."""
        local = localize(self.by_name[name], self.rendered, self.by_name, self.subs, replica)
        started = self._spawn(local)
        self.running.append(started)
        return started

    def add_replica(self, name: str) -> Replica:
        """Scale ``name`` up by one (a spare address): start it, wait until SERVING, then add it to the DNS answer,
        as the endpoints controller adds a ready pod to a headless Service."""
        index = len(self.replicas_of(name))
        started = self.start_replica(name, index)
        self.wait_serving([started])
        self._added[name] = self._added.get(name, 0) + 1
        self._publish_dns()
        return started

    def wait_serving(self, replicas: list[Replica] | None = None, timeout_s: float | None = None) -> None:
        """Wait until every replica reports SERVING.

        Raises:
            BootFailure: once every replica is SERVING, exited or past the deadline, when any is not SERVING;
                ``failures`` maps each such replica to its last log lines (in the message too).
        """
        timeout_s = timeout_s or self.boot_timeout_s
        pending = list(replicas if replicas is not None else self.running)
        deadline = time.monotonic() + timeout_s
        failures: dict[str, str] = {}
        while pending:
            for replica in list(pending):
                if replica.process.poll() is not None:
                    failures[replica.label] = (
                        f"{replica.label} exited with {replica.process.returncode} before SERVING; "
                        f"last {LOG_LINES} log lines:\n{replica.log_tail()}"
                    )
                    pending.remove(replica)
                elif replica.health() == "SERVING":
                    replica.serving_at = time.monotonic()
                    pending.remove(replica)
            if pending and time.monotonic() > deadline:
                for replica in pending:
                    failures[replica.label] = (
                        f"{replica.label} not SERVING after {timeout_s:.0f}s; last {LOG_LINES} log lines:\n"
                        f"{replica.log_tail()}"
                    )
                break
            time.sleep(0.25)
        if failures:
            raise BootFailure(f"{len(failures)} replica(s) failed to boot: {', '.join(failures)}", failures)

    # ---- for the tests ----

    def address(self, workload: str, replica: int = 0) -> str:
        """The main gRPC address of a workload's replica (the Service's ``grpc`` port)."""
        return next(
            r.local.grpc_address for r in self.running if r.local.name == workload and r.local.replica == replica
        )

    def http(self, workload: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request to the HTTP port of the workload's first replica (the gateway's ``http``): over HTTPS when it
        serves TLS, verified with the release's CA against its Service's name (sent as SNI), as a client in the
        cluster would; ``kwargs`` go to ``httpx.request``."""
        local = next(r.local for r in self.running if r.local.name == workload and r.local.replica == 0)
        assert local.http_address, f"{workload} has no http port"
        if local.health_scheme != "HTTPS":
            return httpx.request(method, f"http://{local.http_address}{path}", **kwargs)
        context = ssl.create_default_context(cafile=local.env["RAGPLANE_TLS_CA_FILE"])
        with httpx.Client(verify=context) as client:
            return client.request(
                method,
                f"https://{local.http_address}{path}",
                extensions={"sni_hostname": self.service_name(workload)},
                **kwargs,
            )

    def service_name(self, workload: str) -> str:
        """``<Service>.<namespace>.svc`` of the workload's (non-headless) Service."""
        names = [
            alias
            for alias, (target, _) in service_host_map(self.rendered, self.subs.namespace).items()
            if target == workload and alias.endswith(".svc")
        ]
        return min(names, key=len)

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """A public client's TLS credentials (the CA only) when the workloads serve TLS, else None."""
        ca = next((v for (_, key), v in self.secrets.items() if key == "ca.crt"), None)
        serves_tls = any(p.env.get("RAGPLANE_TLS_CERT_FILE") for p in self.plans if p.ours)
        return grpc.ssl_channel_credentials(root_certificates=ca.encode()) if serves_tls and ca else None

    def channel(self, workload: str, target: str | None = None, options: list | None = None) -> grpc.Channel:
        """A channel to the workload's first replica (or ``target``), with TLS as a public client when served."""
        target = target or self.address(workload)
        credentials = self.channel_credentials()
        if credentials is None:
            return grpc.insecure_channel(target, options=options or [])
        override = [("grpc.ssl_target_name_override", self.service_name(workload))]
        return grpc.secure_channel(target, credentials, options=[*(options or []), *override])

    def client_key(self) -> str:
        """An API key of the client-facing services: the generated Secret's, else the development key."""
        for (_, key), value in self.secrets.items():
            if key == "api-keys":
                return value.split(",")[0].split("=")[0]
        return "dev-key"

    def tails(self, *workloads: str) -> str:
        """The last log lines of every replica of ``workloads``."""
        return "\n".join(
            f"--- {r.label}:\n{r.log_tail()}" for r in self.running if not workloads or r.local.name in workloads
        )

    def uids(self) -> dict[str, tuple[int, int | None]]:
        """{replica: (the uid it runs as, the uid its pod asks for)} of every running replica."""
        out = {}
        for replica in self.running:
            status = Path(f"/proc/{replica.process.pid}/status").read_text()
            uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
            out[replica.label] = (uid, replica.local.user)
        return out

    def replicas_of(self, workload: str) -> list[Replica]:
        return [r for r in self.running if r.local.name == workload]
