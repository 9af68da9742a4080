"""An in-memory stand-in for the Kubernetes API the autoscaler operator uses: resourceVersions, 409 conflicts,
JSON merge patch and the scale subresource, with the client's real error type, so that the reconciler and its API
code run without a cluster."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any


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
            raise api_error(404)
        return {
            "items": [
                copy.deepcopy(o)
                for (g, p, ns, _), o in sorted(self.store.items())
                if (g, p, ns) == (group, plural, namespace)
            ]
        }

    def list_cluster_custom_object(self, group, version, plural, **_):
        self.calls.append("list")
        return {
            "items": [copy.deepcopy(o) for (g, p, _, _), o in sorted(self.store.items()) if (g, p) == (group, plural)]
        }

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
            raise api_error(409)
        new = merge_patch(obj, change)
        new["metadata"]["resourceVersion"] = str(next(self._rv))
        self.store[(group, plural, namespace, name)] = new
        return copy.deepcopy(new)

    def _get(self, group, plural, namespace, name):
        try:
            return self.store[(group, plural, namespace, name)]
        except KeyError:
            raise api_error(404) from None

    def _served(self, group, plural):
        return any((g, p) == (group, plural) for g, p, _, _ in self.store) or getattr(self, "hpa_api", False)


class FakeCore:
    """The one `CoreV1Api` call the operator makes: discovering that the API server answers."""

    def get_api_resources(self, **_):
        return SimpleNamespace(resources=[SimpleNamespace(name="namespaces")])


def api_error(status: int):
    """The Kubernetes client's own exception for an HTTP status."""
    from kubernetes.client.exceptions import ApiException

    return ApiException(status=status, reason={404: "Not Found", 409: "Conflict"}.get(status, "Error"))


def fake_kube(objects: FakeObjects):
    """The operator's `Kube` facade over the in-memory objects."""
    from kubernetes.client import ApiClient

    from ragplane_autoscaler.kube import Kube

    return Kube(ApiClient(), objects=objects, core=FakeCore())
