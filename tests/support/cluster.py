"""A real Kubernetes API server for the operator tests: the resources they need (Deployments with scale, HPAs,
the RagAutoscaler CRD), objects created and cleaned up per test, and a polling helper."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragplane_autoscaler.spec import GROUP, PLURAL, VERSION

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "charts" / "ragplane" / "crds" / "ragautoscalers.ragplane.io.yaml"
NAMESPACE = os.environ.get("RAGPLANE_TEST_NAMESPACE", "default")


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
            self._apply_crd(plain_crd("apps", "v1", "Deployment", "deployments", scale=True))
        if not self._served("autoscaling", "v2", "horizontalpodautoscalers"):
            self._apply_crd(plain_crd("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"))
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
        return self.create(
            "apps",
            "v1",
            "deployments",
            {
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
            },
        )

    def replicas(self, name: str) -> int:
        scale = self.objects.get_namespaced_custom_object_scale("apps", "v1", self.ns, "deployments", name)
        return int(scale["spec"].get("replicas", 0))

    def hpa(self, name: str, target: str) -> dict:
        return self.create(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                    "minReplicas": 1,
                    "maxReplicas": 3,
                    "metrics": [
                        {
                            "type": "Resource",
                            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                        }
                    ],
                },
            },
        )

    def autoscaler(self, name: str, spec: dict) -> dict:
        return self.create(
            GROUP,
            VERSION,
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "RagAutoscaler",
                "metadata": {"name": name},
                "spec": spec,
            },
        )

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

    def healthy(self) -> bool:
        """Whether the API server answers /healthz."""
        try:
            self.api.call_api(*self.api.param_serialize("GET", "/healthz", auth_settings=["BearerToken"]))
            return True
        except Exception:  # noqa: BLE001 (any failure means "not yet")
            return False


def plain_crd(group: str, version: str, kind: str, plural: str, scale: bool = False) -> dict:
    """A CRD serving a built-in kind that a bare API server lacks (no controller behind it)."""
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
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
