"""What the cluster would run, read from a rendered chart, and how a workload runs on this machine instead.

``plan(rendered, secrets)`` turns every Deployment and InferenceService of a ``helm template`` into a
``WorkloadPlan``: replicas, the main container's argv, its environment exactly as the kubelet builds it (image
``ENV``, ConfigMaps through ``envFrom``, ``env`` entries with Secrets and ``$(VAR)`` references resolved), the
files its mounts show, what it may write, the user it runs as, its ports and readiness probe. It is pure: no
processes, no files.

``localize(plan, subs, replica)`` applies the substitutions the README of this folder lists (and nothing else)
and gives the ``LocalProcess`` a harness starts: argv with the venv's interpreter, the environment with cluster
addresses turned into loopback ones, and the pod's files under a temporary root.
"""

from __future__ import annotations

import re
import secrets as _secrets
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chart.chartlib import NAMESPACE, ROOT, Rendered, pod_labels, pod_spec
from chart.podenv import container_environment

from ragplane.runtime.services import DEPLOYABLE_NAMES, MODEL_SERVER, spec

NAME_LABEL = "app.kubernetes.io/name"
# The image's runtime user when neither the pod nor the container names one (the Dockerfiles' USER 10001:10001).
IMAGE_USER = 10001
# Workloads that are not our code and what stands in for them here (the README's substitution list).
LLM_SERVERS = frozenset({"triton"})
# Workloads of ours the harness does not boot, and why (the README says the same).
NOT_BOOTED = {
    "autoscaler": "the GPU-aware autoscaler operator needs a Kubernetes API server and in-cluster credentials; "
    "it is off in every ci/ scenario and tested against a real API server in tests/operator",
}
# The model the CPU model server loads when it stands in for an LLM server (the fast tests' model).
STAND_IN_LLM_MODEL = "smollm2-135m"
STAND_IN_CHAT_TEMPLATE = "chatml"
_LISTEN_KEYS = (
    "RAGPLANE_GRPC_LISTEN",
    "RAGPLANE_GATEWAY_LISTEN",
    "RAGPLANE_METRICS_LISTEN",
    "RAGPLANE_GRPC_INTERNAL_LISTEN",
    "RAGPLANE_GRPC_HEALTH_LISTEN",
)
# Triton's flags for TLS on its gRPC port, and the CPU model server's settings that do the same with the same files.
_TRITON_TLS_FILES = {
    "--grpc-server-cert": "RAGPLANE_TLS_CERT_FILE",
    "--grpc-server-key": "RAGPLANE_TLS_KEY_FILE",
    "--grpc-root-cert": "RAGPLANE_TLS_CA_FILE",
}
# The stand-in's plaintext health-only port under TLS (the chart's convention: gRPC port + 2000), for readiness.
STAND_IN_HEALTH_PORT = 8001 + 2000
# Environment variables that name an LLM endpoint (Triton, KServe or an external server).
_LLM_ENDPOINT_KEYS = ("RAGPLANE_MODEL_ADDR",)
_CLUSTER_SUFFIXES = (".svc.cluster.local", ".svc")


@dataclass(frozen=True)
class Mount:
    """One volume mount of the main container."""

    path: str
    kind: str  # configMap, secret, emptyDir, persistentVolumeClaim
    source: str  # the ConfigMap, Secret or claim name ("" for emptyDir)
    read_only: bool


@dataclass
class WorkloadPlan:
    """What a workload's pods run, from the rendered manifests.

    Attributes:
        name: app.kubernetes.io/name of the pods.
        kind: Job, Deployment or InferenceService (Jobs are the chart's hooks: they run to completion first).
        replicas: spec.replicas (an HPA's minReplicas when the Deployment leaves replicas to it).
        ours: whether the container runs one of ragplane's images (else it is a server such as Triton).
        module: what ``python -m`` runs for a service (the image's ENTRYPOINT when the manifest gives no command).
        argv: the container's command and args as the kubelet runs them.
        env: the main container's environment.
        files: {absolute path in the pod: bytes} for every ConfigMap and Secret mount.
        mounts: every volume mount of the main container.
        writable: pod paths the container may write (emptyDir, writable PVCs; "/" when the root is writable).
        read_only_root: securityContext.readOnlyRootFilesystem.
        run_as_user / run_as_group: the effective user and group.
        ports: {port name: container port} (grpc, metrics, ... ; the gateway's http).
        health_port: the port of the readiness probe, gRPC or HTTP (None without one).
        readiness: the readiness probe as rendered.
        health_path: the path of an HTTP readiness probe (the gateway's /readyz); None for a gRPC probe.
        health_scheme: HTTP or HTTPS, the scheme of an HTTP readiness probe.
    """

    name: str
    kind: str
    replicas: int
    ours: bool
    module: str | None
    argv: list[str]
    env: dict[str, str]
    files: dict[str, bytes]
    mounts: list[Mount]
    writable: list[str]
    read_only_root: bool
    run_as_user: int | None
    run_as_group: int | None
    ports: dict[str, int]
    health_port: int | None
    readiness: dict[str, Any] | None = None
    health_path: str | None = None
    health_scheme: str = "HTTP"


# ---- Test values of Secrets ----


def referenced_secrets(rendered: Rendered) -> set[tuple[str, str]]:
    """(Secret name, key) of every secretKeyRef and Secret volume item of the rendered workloads."""
    found: set[tuple[str, str]] = set()
    for workload in _workloads(rendered):
        pod = pod_spec(workload)
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for entry in container.get("env") or []:
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    found.add((ref["name"], ref["key"]))
        for volume in pod.get("volumes", []):
            secret = volume.get("secret")
            if secret:
                for item in secret.get("items", []):
                    found.add((secret["secretName"], item["key"]))
    return found


def generated_secrets(
    rendered: Rendered, tenant_keys: Mapping[str, str] | None = None, namespace: str = NAMESPACE
) -> dict[tuple[str, str], str]:
    """Generated values for every Secret key the rendered chart references.

    The service token is random and 48 characters; an ``api-keys`` key holds ``key=tenant`` pairs
    (``tenant_keys``, default one random key for tenant ``acme``); a TLS Secret (``tls.crt``, ``tls.key``,
    ``ca.crt``) gets a fresh CA and a certificate it signed for every name of every Service (server and client
    use, as an internal CA would issue); a lone ``*.crt`` is a self-signed CA certificate; anything else
    (passwords, API keys of stores) is a random string.
    """
    keys = dict(tenant_keys or {f"key-{_secrets.token_hex(8)}": "acme"})
    wanted = sorted(referenced_secrets(rendered))
    tls_secrets = {name for name, key in wanted if key in ("tls.crt", "tls.key")}
    tls = _tls_material(sorted(service_host_map(rendered, namespace))) if tls_secrets else {}
    out: dict[tuple[str, str], str] = {}
    for name, key in wanted:
        if name in tls_secrets and key in tls:
            out[(name, key)] = tls[key]
        elif key == "token":
            out[(name, key)] = _secrets.token_urlsafe(36)
        elif key == "api-keys":
            out[(name, key)] = ",".join(f"{k}={t}" for k, t in keys.items())
        elif key.endswith(".crt"):
            out[(name, key)] = _tls_material([name])["ca.crt"]
        else:
            out[(name, key)] = _secrets.token_urlsafe(18)
    return out


def _tls_material(names: list[str]) -> dict[str, str]:
    """{"ca.crt", "tls.crt", "tls.key"}: a CA and a leaf for ``names`` (DNS SANs) usable by servers and clients."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ragplane test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "ca.crt": ca.public_bytes(pem).decode(),
        "tls.crt": leaf.public_bytes(pem).decode(),
        "tls.key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    }


# ---- The plan ----


WORKLOAD_KINDS = ("Job", "Deployment", "InferenceService")


def _workloads(rendered: Rendered) -> list[dict[str, Any]]:
    """Jobs (the chart's hooks run before the services) first, then Deployments and InferenceServices."""
    return sorted(
        (o for o in rendered.objects if o["kind"] in WORKLOAD_KINDS), key=lambda o: WORKLOAD_KINDS.index(o["kind"])
    )


def image_is_ours(image: str) -> bool:
    """Whether an image reference is one of ragplane's images (``.../<service>[-cuda]:tag``)."""
    repository = image.rsplit("@", 1)[0].rsplit(":", 1)[0] if "/" in image else image
    base = repository.rsplit("/", 1)[-1].removesuffix("-cuda")
    return base in DEPLOYABLE_NAMES or base == MODEL_SERVER.name


def image_env(name: str, target: str | None = None) -> dict[str, str]:
    """The ``ENV`` of the image: the Dockerfile's ``target`` stage with the stages it builds on.

    The one Dockerfile at the root has a target per image, named as the workload (the default target);
    a per-service Dockerfile's image is its last stage. PATH is left out (the venv replaces the image), and so
    are values that refer to other variables.
    """
    per_service = ROOT / "services" / name / "Dockerfile"
    if per_service.exists():
        return _dockerfile_env(per_service.read_text(), target)
    shared = ROOT / "Dockerfile"
    if shared.exists():
        return _dockerfile_env(shared.read_text(), target or name)
    return {}


def _dockerfile_env(text: str, target: str | None = None) -> dict[str, str]:
    joined = re.sub(r"\\\n", " ", text)
    stages: dict[str, dict[str, str]] = {}
    stage: dict[str, str] = {}
    for line in joined.splitlines():
        words = line.strip().split()
        if not words:
            continue
        if words[0].upper() == "FROM":
            base = words[1]
            stage = dict(stages.get(base, {}))
            stage_name = words[3] if len(words) >= 4 and words[2].upper() == "AS" else f"#{len(stages)}"
            stages[stage_name] = stage
        elif words[0].upper() == "ENV" and len(words) >= 2:
            for item in shlex.split(line.strip()[3:]):
                key, sep, value = item.partition("=")
                if sep and "$" not in value and key != "PATH":
                    stage[key] = value
    if target is not None:
        return dict(stages.get(target, {}))
    return dict(stage)


def _module_of(name: str) -> str | None:
    if name == MODEL_SERVER.name:
        return MODEL_SERVER.module
    return spec(name).module if name in DEPLOYABLE_NAMES else None


def _replicas(rendered: Rendered, workload: dict[str, Any]) -> int:
    if workload["kind"] == "InferenceService":
        return int(workload["spec"]["predictor"].get("minReplicas", 1))
    if workload["kind"] == "Job":
        return 1
    if "replicas" in workload["spec"]:
        return int(workload["spec"]["replicas"])
    for hpa in rendered.of_kind("HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == workload["metadata"]["name"]:
            return int(hpa["spec"].get("minReplicas", 1))
    return 1


def _files(
    rendered: Rendered, pod: dict[str, Any], container: dict[str, Any], secrets: Mapping[tuple[str, str], str]
) -> tuple[dict[str, bytes], list[Mount]]:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files: dict[str, bytes] = {}
    mounts: list[Mount] = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes[mount["name"]]
        path = mount["mountPath"]
        read_only = bool(mount.get("readOnly", False))
        if "configMap" in volume:
            source = volume["configMap"]["name"]
            data = {k: v.encode() for k, v in rendered.get("ConfigMap", source).get("data", {}).items()}
            kind = "configMap"
            read_only = True  # the kubelet mounts ConfigMaps and Secrets read-only
        elif "secret" in volume:
            source = volume["secret"]["secretName"]
            data = {k: v.encode() for (s, k), v in secrets.items() if s == source}
            kind = "secret"
            read_only = True
        elif "emptyDir" in volume:
            mounts.append(Mount(path, "emptyDir", "", read_only))
            continue
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]
            read_only = read_only or bool(claim.get("readOnly", False))
            mounts.append(Mount(path, "persistentVolumeClaim", claim["claimName"], read_only))
            continue
        else:
            raise AssertionError(f"unsupported volume {mount['name']}: {sorted(volume)}")
        items = volume[kind if kind == "configMap" else "secret"].get("items")
        selected = {i["key"]: i["path"] for i in items} if items else {k: k for k in data}
        for key, rel in selected.items():
            assert key in data, f"{kind} {source} has no key {key} (give the test a value)"
            if "subPath" in mount:
                if mount["subPath"] == rel:
                    files[path] = data[key]
            else:
                files[f"{path.rstrip('/')}/{rel}"] = data[key]
        mounts.append(Mount(path, kind, source, read_only))
    return files, mounts


def _security(pod: dict[str, Any], container: dict[str, Any]) -> tuple[int | None, int | None, bool]:
    pod_sc = pod.get("securityContext", {})
    sc = container.get("securityContext", {})
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    group = sc.get("runAsGroup", pod_sc.get("runAsGroup"))
    return user, group, bool(sc.get("readOnlyRootFilesystem", False))


def _fields(workload: dict[str, Any]) -> dict[str, str]:
    """fieldRef values of a pod of ``workload`` (its name as the first replica's)."""
    return {
        "metadata.name": f"{workload['metadata']['name']}-0",
        "metadata.namespace": workload["metadata"].get("namespace", NAMESPACE),
        "spec.nodeName": "node-0",
    }


def plan_workload(rendered: Rendered, workload: dict[str, Any], secrets: Mapping[tuple[str, str], str]) -> WorkloadPlan:
    """The plan of one rendered Deployment or InferenceService."""
    name = pod_labels(workload)[NAME_LABEL]
    pod = pod_spec(workload)
    container = pod["containers"][0]
    module = _module_of(name)
    ours = image_is_ours(container["image"])
    image = image_env("generate", target=name) if name == MODEL_SERVER.name else image_env(name)
    env = {**(image if ours else {}), **container_environment(rendered, container, secrets, _fields(workload))}
    if "command" in container:
        argv = [*container["command"], *container.get("args", [])]
    else:
        # The image's ENTRYPOINT (every Dockerfile of ours: python -m <module>), then the manifest's args.
        argv = ["python", "-m", module or "?", *container.get("args", [])]
    files, mounts = _files(rendered, pod, container, secrets)
    user, group, read_only_root = _security(pod, container)
    writable = [m.path for m in mounts if m.kind in ("emptyDir", "persistentVolumeClaim") and not m.read_only]
    if not read_only_root:
        writable.insert(0, "/")
    probe = container.get("readinessProbe")
    ports = {p.get("name", str(p["containerPort"])): p["containerPort"] for p in container.get("ports", [])}
    health, health_path = _readiness(probe, ports)
    return WorkloadPlan(
        name=name,
        kind=workload["kind"],
        replicas=_replicas(rendered, workload),
        ours=ours,
        module=module,
        argv=argv,
        env=env,
        files=files,
        mounts=mounts,
        writable=writable,
        read_only_root=read_only_root,
        run_as_user=user if user is not None else (IMAGE_USER if ours else None),
        run_as_group=group if group is not None else (IMAGE_USER if ours else None),
        ports=ports,
        health_port=health,
        readiness=probe,
        health_path=health_path,
        health_scheme=(probe or {}).get("httpGet", {}).get("scheme", "HTTP"),
    )


def _readiness(probe: dict[str, Any] | None, ports: Mapping[str, int]) -> tuple[int | None, str | None]:
    """(port, path) a readiness probe asks: a gRPC probe's port and no path, or an HTTP GET's port (by number or
    by the container port's name) and path."""
    if probe and "grpc" in probe:
        return probe["grpc"]["port"], None
    if probe and "httpGet" in probe:
        port = probe["httpGet"]["port"]
        return (port if isinstance(port, int) else ports[port]), probe["httpGet"].get("path", "/")
    return None, None


def _flags(argv: list[str]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` arguments of a command line (tritonserver's getopt forms)."""
    out: dict[str, str] = {}
    for index, arg in enumerate(argv):
        if not arg.startswith("--"):
            continue
        name, sep, value = arg.partition("=")
        if not sep and index + 1 < len(argv) and not argv[index + 1].startswith("--"):
            value = argv[index + 1]
        out[name] = value
    return out


def triton_tls(argv: list[str]) -> dict[str, str]:
    """The CPU model server's TLS settings that do what Triton's TLS flags in ``argv`` do, or {} for plaintext.

    ``--grpc-use-ssl`` / ``--grpc-use-ssl-mutual`` with ``--grpc-server-cert``, ``--grpc-server-key`` and
    ``--grpc-root-cert`` become RAGPLANE_TLS_CERT_FILE, _KEY_FILE and _CA_FILE (the same mounted files) and
    RAGPLANE_TLS_CLIENT_AUTH (require with ``--grpc-use-ssl-mutual``), plus a plaintext health-only listener for
    the readiness check (Triton's probes use its HTTP port, which the stand-in does not have).

    Raises:
        AssertionError: TLS is switched on without the certificate, key or root certificate.
    """
    flags = _flags(argv)
    on = {
        flag: flags.get(flag, "false").lower() in ("1", "true", "yes", "on")
        for flag in ("--grpc-use-ssl", "--grpc-use-ssl-mutual")
    }
    if not any(on.values()):
        return {}
    missing = [flag for flag in _TRITON_TLS_FILES if not flags.get(flag)]
    assert not missing, f"Triton serves TLS without {', '.join(missing)}: {argv}"
    env = {setting: flags[flag] for flag, setting in _TRITON_TLS_FILES.items()}
    env["RAGPLANE_TLS_CLIENT_AUTH"] = "require" if on["--grpc-use-ssl-mutual"] else "none"
    env["RAGPLANE_GRPC_HEALTH_LISTEN"] = f"0.0.0.0:{STAND_IN_HEALTH_PORT}"
    return env


def stand_in_llm(plans: list[WorkloadPlan], rendered: Rendered) -> WorkloadPlan | None:
    """The CPU model server in place of an LLM server that is not our code, or None when the chart runs ours.

    It listens on Triton's ports (gRPC 8001, metrics 8002), serves the model name generate asks for and loads
    the fast tests' model; it runs as the replaced pod's user, with /tmp its only writable path. When Triton
    serves TLS (``triton_tls``), the stand-in serves it with Triton's mounted certificate files.
    """
    if any(p.name == MODEL_SERVER.name for p in plans):
        return None
    generate = next(p for p in plans if p.name == "generate")
    replaced = next((p for p in plans if p.name in LLM_SERVERS), None)
    env = {
        **image_env("generate", target=MODEL_SERVER.name),
        "RAGPLANE_LLM_MODEL": STAND_IN_LLM_MODEL,
        "RAGPLANE_LLM_MODEL_NAME": generate.env.get("RAGPLANE_LLM_MODEL_NAME", "ensemble"),
        "RAGPLANE_MODEL_CACHE": "/tmp/ragplane-models",
        "RAGPLANE_GRPC_LISTEN": "0.0.0.0:8001",
        "RAGPLANE_METRICS_LISTEN": "0.0.0.0:8002",
        "HOME": "/tmp",
    }
    user = replaced.run_as_user if replaced and replaced.run_as_user is not None else IMAGE_USER
    group = replaced.run_as_group if replaced and replaced.run_as_group is not None else IMAGE_USER
    tls = triton_tls(replaced.argv) if replaced else {}
    env.update(tls)
    mounts = [Mount("/tmp", "emptyDir", "", False)]
    files: dict[str, bytes] = {}
    if tls:
        # The Secret mounts that hold the files Triton's flags name, with their files.
        paths = [tls[setting] for setting in _TRITON_TLS_FILES.values()]
        secret_mounts = [m for m in replaced.mounts if m.kind == "secret" and any(_under(p, [m.path]) for p in paths)]
        mounts += secret_mounts
        files = {p: data for p, data in replaced.files.items() if _under(p, [m.path for m in secret_mounts])}
    ports = {"grpc": 8001, "metrics": 8002, **({"grpc-health": STAND_IN_HEALTH_PORT} if tls else {})}
    return WorkloadPlan(
        name=MODEL_SERVER.name,
        kind="stand-in",
        replicas=1,
        ours=True,
        module=MODEL_SERVER.module,
        argv=["python", "-m", MODEL_SERVER.module],
        env=env,
        files=files,
        mounts=mounts,
        writable=["/tmp"],
        read_only_root=True,
        run_as_user=user,
        run_as_group=group,
        ports=ports,
        health_port=STAND_IN_HEALTH_PORT if tls else 8001,
    )


def plan(rendered: Rendered, secrets: Mapping[tuple[str, str], str]) -> list[WorkloadPlan]:
    """Every workload of a rendered chart: its Jobs, then Deployments and InferenceServices, in render order."""
    return [plan_workload(rendered, w, secrets) for w in _workloads(rendered)]


def services(rendered: Rendered) -> dict[str, tuple[str, dict[int, int | str]]]:
    """{Service name: (the workload it selects, {service port: target port})}."""
    out: dict[str, tuple[str, dict[int, int | str]]] = {}
    for svc in rendered.of_kind("Service"):
        selector = svc["spec"].get("selector", {})
        if NAME_LABEL not in selector:
            continue
        ports = {p["port"]: p.get("targetPort", p["port"]) for p in svc["spec"].get("ports", [])}
        out[svc["metadata"]["name"]] = (selector[NAME_LABEL], ports)
    return out


# ---- Substitutions: from the cluster to this machine ----


@dataclass
class Endpoint:
    """Where the replicas of one workload listen here: one loopback host per replica, one port map for all."""

    hosts: list[str]
    ports: dict[int, int]  # container port -> local port

    def address(self, container_port: int, replica: int = 0) -> str:
        return f"{self.hosts[replica]}:{self.ports[container_port]}"


@dataclass
class Substitutions:
    """The only differences between a pod and its process here (tests/deploy/README.md lists each).

    Attributes:
        root: the temporary root; replica i of workload w sees its pod paths under ``root/<w>-<i>/``.
        endpoints: {workload: Endpoint}; the LLM server's entry is under ``llm_workload``.
        kafka_bootstrap: the local broker.
        redis_url / state_redis_url: the local Redis servers (``redis://host:port/db``; the rendered URL's
            password is kept, its scheme becomes redis://).
        qdrant_root: a folder; each retrieve replica's RAGPLANE_QDRANT_URL becomes ``file://<folder>/<replica>``
            (qdrant-client's local mode).
        dns_server: ``host:port`` of a DNS server on loopback that answers the headless names with every
            replica's host, or None to give ``dns:///`` targets as ``ipv4:`` lists instead.
        llm_workload: the workload that stands in for the LLM server (Triton, KServe or an external address).
        namespace: the release's namespace (short Service names resolve in it).
        stand_in_template: when the LLM server is replaced by the stand-in, the chat template of the stand-in's
            model, which the LLM's client (generate) then formats prompts with.
        extra_env: per workload ("*" for all), variables a test adds after the substitutions.
    """

    root: Path
    endpoints: dict[str, Endpoint]
    kafka_bootstrap: str
    redis_url: str
    state_redis_url: str
    qdrant_root: Path
    dns_server: str | None = None
    llm_workload: str = MODEL_SERVER.name
    namespace: str = "ragplane"
    stand_in_template: str | None = None
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class LocalProcess:
    """One replica as a process here."""

    name: str
    replica: int
    argv: list[str]
    env: dict[str, str]
    root: Path  # this replica's view of the pod's filesystem
    files: dict[Path, bytes]
    writable: list[Path]
    cwd: Path
    user: int | None
    group: int | None
    address: str  # host:port of its gRPC health (readiness) port
    grpc_address: str  # host:port of its main gRPC port (the Service's "grpc" port)
    metrics_address: str | None
    applied: list[str]  # "KEY: old -> new" for every substituted value
    health_path: str | None = None  # an HTTP readiness check's path (``address`` is then an HTTP host:port)
    health_scheme: str = "HTTP"  # HTTP or HTTPS (verified with RAGPLANE_TLS_CA_FILE, as the kubelet does not)
    http_address: str | None = None  # host:port of its HTTP port (the gateway's "http"), else None


def service_host_map(rendered: Rendered, namespace: str) -> dict[str, tuple[str, dict[int, int | str]]]:
    """Every name a pod could use for a Service ({name: (workload, port map)}): short, namespaced, .svc, FQDN."""
    out: dict[str, tuple[str, dict[int, int | str]]] = {}
    for name, target in services(rendered).items():
        for alias in (name, f"{name}.{namespace}", *(f"{name}.{namespace}{s}" for s in _CLUSTER_SUFFIXES)):
            out[alias] = target
    return out


def _target_port(plan_ports: Mapping[str, int], target: int | str) -> int:
    return target if isinstance(target, int) else plan_ports[target]


class _Rewriter:
    def __init__(self, rendered: Rendered, plans: Mapping[str, WorkloadPlan], subs: Substitutions) -> None:
        self.hosts = service_host_map(rendered, subs.namespace)
        self.plans = plans
        self.subs = subs

    def _local(self, host: str, port: int) -> tuple[str, int, Endpoint] | None:
        if host not in self.hosts:
            return None
        workload, ports = self.hosts[host]
        if workload in LLM_SERVERS:
            workload = self.subs.llm_workload
        endpoint = self.subs.endpoints[workload]
        target = ports.get(port, port)
        plan_ports = self.plans[workload].ports if workload in self.plans else {}
        container_port = _target_port(plan_ports, target)
        if container_port not in endpoint.ports:  # a stand-in listens on its own ports
            container_port = next(iter(endpoint.ports))
        return workload, container_port, endpoint

    def address(self, value: str) -> str | None:
        """A cluster address (``dns:///name:port`` or ``name:port``) as a local one; None when not a cluster name."""
        balanced = value.startswith("dns:///")
        hostport = value.removeprefix("dns:///")
        host, sep, port = hostport.rpartition(":")
        if not sep or not port.isdigit():
            return None
        found = self._local(host, int(port))
        if found is None:
            return None
        _, container_port, endpoint = found
        local_port = endpoint.ports[container_port]
        if not balanced:
            return f"{endpoint.hosts[0]}:{local_port}"
        if self.subs.dns_server:
            return f"dns://{self.subs.dns_server}/{host}:{local_port}"
        return "ipv4:" + ",".join(f"{h}:{local_port}" for h in endpoint.hosts)

    def llm(self) -> str:
        endpoint = self.subs.endpoints[self.subs.llm_workload]
        container_port = next(iter(endpoint.ports))
        return f"{endpoint.hosts[0]}:{endpoint.ports[container_port]}"


def _redis(value: str, local: str) -> str:
    rendered, here = urlsplit(value), urlsplit(local)
    netloc = here.netloc
    if rendered.password is not None:
        netloc = f":{rendered.password}@{here.hostname}:{here.port}"
    return urlunsplit(("redis", netloc, rendered.path or here.path, "", ""))


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def localize(
    the_plan: WorkloadPlan,
    rendered: Rendered,
    plans: Mapping[str, WorkloadPlan],
    subs: Substitutions,
    replica: int = 0,
) -> LocalProcess:
    """Replica ``replica`` of ``the_plan`` as a process here, with exactly the README's substitutions."""
    assert the_plan.ours, f"{the_plan.name} is not our code; it is replaced by {subs.llm_workload} (see README)"
    root = subs.root / f"{the_plan.name}-{replica}"
    endpoint = subs.endpoints[the_plan.name]
    host = endpoint.hosts[replica]
    rewriter = _Rewriter(rendered, plans, subs)
    mount_paths = [m.path for m in the_plan.mounts]
    env: dict[str, str] = {}
    applied: list[str] = []
    for key, value in the_plan.env.items():
        new = _substitute(key, value, the_plan, subs, rewriter, host, endpoint, root, mount_paths, replica)
        if new is None:
            applied.append(f"{key}: {value} -> (unset)")
            continue
        if new != value:
            applied.append(f"{key}: {value} -> {new}")
        env[key] = new
    if subs.stand_in_template and any(k in the_plan.env for k in _LLM_ENDPOINT_KEYS):
        # Prompts must be formatted for the model the stand-in serves, not for the replaced server's model.
        before = env.get("RAGPLANE_GENERATE_CHAT_TEMPLATE", "(unset)")
        env["RAGPLANE_GENERATE_CHAT_TEMPLATE"] = subs.stand_in_template
        applied.append(f"RAGPLANE_GENERATE_CHAT_TEMPLATE: {before} -> {subs.stand_in_template}")
    env.update(subs.extra_env.get("*", {}))
    env.update(subs.extra_env.get(the_plan.name, {}))
    grpc_port = the_plan.health_port or the_plan.ports.get("grpc")
    main_port = the_plan.ports.get("grpc")
    http_port = the_plan.ports.get("http")
    metrics_port = the_plan.ports.get("metrics")
    return LocalProcess(
        name=the_plan.name,
        replica=replica,
        # The image's python is the venv's interpreter (the image -> the venv).
        argv=[
            sys.executable if i == 0 and arg == "python" else _path_under_root(arg, root, mount_paths)
            for i, arg in enumerate(the_plan.argv)
        ],
        env=env,
        root=root,
        files={root / p.lstrip("/"): data for p, data in the_plan.files.items()},
        writable=[root / p.lstrip("/") for p in the_plan.writable if p != "/"],
        cwd=root / "workdir",
        user=the_plan.run_as_user,
        group=the_plan.run_as_group,
        address=endpoint.address(grpc_port, replica) if grpc_port else "",
        grpc_address=endpoint.address(main_port, replica) if main_port else "",
        metrics_address=endpoint.address(metrics_port, replica) if metrics_port in endpoint.ports else None,
        applied=applied,
        health_path=the_plan.health_path,
        health_scheme=the_plan.health_scheme,
        http_address=endpoint.address(http_port, replica) if http_port else None,
    )


def _substitute(
    key: str,
    value: str,
    the_plan: WorkloadPlan,
    subs: Substitutions,
    rewriter: _Rewriter,
    host: str,
    endpoint: Endpoint,
    root: Path,
    mount_paths: list[str],
    replica: int,
) -> str | None:
    if key in _LISTEN_KEYS:
        port = int(value.rpartition(":")[2])
        return f"{host}:{endpoint.ports[port]}"
    if key == "RAGPLANE_KAFKA_BOOTSTRAP":
        return subs.kafka_bootstrap
    if key == "RAGPLANE_KAFKA_SECURITY_PROTOCOL":
        # The local broker speaks PLAINTEXT only: TLS and SASL to Kafka are not exercised here.
        return "PLAINTEXT"
    if key.startswith(("RAGPLANE_KAFKA_SASL_", "RAGPLANE_KAFKA_SSL_")):
        return None
    if key == "RAGPLANE_REDIS_URL":
        return _redis(value, subs.redis_url)
    if key == "RAGPLANE_STATE_REDIS_URL":
        return _redis(value, subs.state_redis_url)
    if key == "RAGPLANE_QDRANT_URL":
        return f"file://{subs.qdrant_root / f'{the_plan.name}-{replica}'}"
    if key.endswith("_DEVICE") and value.startswith("cuda"):
        # No GPU here: the in-process encoders run on the CPU.
        return "cpu"
    if key in _LLM_ENDPOINT_KEYS:
        # Triton's Service, a KServe predictor or an external address: the stand-in model server.
        local = rewriter.address(value)
        return local if local is not None else rewriter.llm()
    local = rewriter.address(value)
    if local is not None:
        return local
    return _path_under_root(value, root, mount_paths)


def _path_under_root(value: str, root: Path, mount_paths: list[str]) -> str:
    """A path under one of the pod's mounts, as the same path under the replica's root; anything else as is."""
    if value.startswith("/") and _under(value, mount_paths):
        return str(root / value.lstrip("/"))
    return value
