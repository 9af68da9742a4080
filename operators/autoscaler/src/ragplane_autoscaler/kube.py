"""The Kubernetes API calls the operator makes, with optimistic concurrency and plain-data results.

Blocking `kubernetes` client calls run in worker threads. Writes that must not lose a concurrent change carry the
object's resourceVersion; the API server answers 409 when the object moved on, which surfaces as :class:`Conflict`
for the caller to re-read and decide again (status) or is retried here after a re-read (scale).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .spec import GROUP, PLURAL, VERSION, TargetRef

log = logging.getLogger(__name__)
T = TypeVar("T")

REQUEST_TIMEOUT_S = 15.0
SCALE_ATTEMPTS = 4
KSERVE_AUTOSCALER_ANNOTATIONS = ("serving.kserve.io/autoscalerClass", "autoscaler.kserve.io/class")
KSERVE_EXTERNAL_CLASSES = ("none", "external")


class KubeError(RuntimeError):
    """An API call failed for a reason worth retrying later."""


class Conflict(KubeError):
    """The object changed since it was read (HTTP 409)."""


class NotFound(KubeError):
    """The object does not exist (HTTP 404)."""


@dataclass(frozen=True)
class TargetState:
    """What the operator needs to know about the scaled workload.

    Attributes:
        replicas: the replica count the workload is set to (the scale subresource's spec.replicas).
        ready_replicas: what its status reports, when it does.
        annotations: the workload's annotations (KServe's autoscaler class lives there).
    """

    replicas: int
    ready_replicas: int | None
    annotations: dict[str, str]


def load_configuration(kubeconfig: str) -> Any:
    """A `kubernetes.client.Configuration` from a kubeconfig file, or in-cluster, or the default kubeconfig."""
    from kubernetes import client, config

    cfg = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
    else:
        try:
            config.load_incluster_config(client_configuration=cfg)
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg, persist_config=False)
    if not cfg.verify_ssl:
        # The kubeconfig asked for it (insecure-skip-tls-verify); say so once instead of warning on every request.
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        log.warning("TLS verification of the API server is off, as the kubeconfig asks")
    return cfg


def connection_info(cfg: Any) -> Any:
    """kopf credentials equivalent to a `kubernetes.client.Configuration` (so both clients log in the same way)."""
    import kopf

    header = cfg.get_api_key_with_prefix("BearerToken") or cfg.get_api_key_with_prefix("authorization")
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return kopf.ConnectionInfo(
        server=cfg.host,
        ca_path=cfg.ssl_ca_cert,
        insecure=not cfg.verify_ssl,
        username=cfg.username or None,
        password=cfg.password or None,
        scheme=scheme,
        token=token,
        certificate_path=cfg.cert_file,
        private_key_path=cfg.key_file,
    )


class Kube:
    """API access for the reconciler."""

    def __init__(self, api_client: Any, objects: Any = None, core: Any = None) -> None:
        """Wrap an ApiClient; `objects` and `core` replace the generated API classes (tests use in-memory ones)."""
        from kubernetes import client

        self._api_client = api_client
        self._objects = objects if objects is not None else client.CustomObjectsApi(api_client)
        self._core = core if core is not None else client.CoreV1Api(api_client)

    @classmethod
    def from_configuration(cls, cfg: Any) -> Kube:
        from kubernetes import client

        return cls(client.ApiClient(cfg))

    def close(self) -> None:
        self._api_client.close()

    # RagAutoscalers

    async def get_autoscaler(self, namespace: str, name: str) -> dict[str, Any]:
        """Read one RagAutoscaler (fresh from the API server)."""
        return await self._call(self._objects.get_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL, name)

    async def list_autoscalers(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """All RagAutoscalers in a namespace, or in the cluster when namespace is None."""
        if namespace is None:
            body = await self._call(self._objects.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        else:
            body = await self._call(self._objects.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL)
        return list(body.get("items", []))

    async def patch_status(
        self, namespace: str, name: str, resource_version: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch `.status`, only if the object is still at `resource_version`.

        Raises:
            Conflict: the object changed since it was read.
        """
        body = {"metadata": {"resourceVersion": resource_version}, "status": status}
        return await self._call(
            self._objects.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, PLURAL, name, body
        )

    # Targets

    async def read_target(self, namespace: str, target: TargetRef) -> TargetState:
        """The target's replica count and annotations.

        Raises:
            NotFound: the target does not exist (or its API is not served).
        """
        if target.kind == "InferenceService":
            obj = await self._call(
                self._objects.get_namespaced_custom_object,
                target.group,
                target.version,
                namespace,
                target.plural,
                target.name,
            )
            predictor = (obj.get("spec") or {}).get("predictor") or {}
            return TargetState(
                replicas=int(predictor.get("minReplicas", 1)),
                ready_replicas=None,
                annotations=dict((obj.get("metadata") or {}).get("annotations") or {}),
            )
        scale = await self._call(
            self._objects.get_namespaced_custom_object_scale,
            target.group,
            target.version,
            namespace,
            target.plural,
            target.name,
        )
        status = scale.get("status") or {}
        return TargetState(
            replicas=int((scale.get("spec") or {}).get("replicas", 0)),
            ready_replicas=status.get("replicas"),
            annotations={},
        )

    async def scale_target(self, namespace: str, target: TargetRef, replicas: int) -> bool:
        """Set the target's replica count; on 409, re-read and try again.

        Returns:
            True when the count changed, False when it already was `replicas`.

        Raises:
            NotFound: the target is gone.
            Conflict: it kept changing under us for every attempt.
        """
        for attempt in range(SCALE_ATTEMPTS):
            try:
                if target.kind == "InferenceService":
                    return await self._scale_inference_service(namespace, target, replicas)
                return await self._scale_subresource(namespace, target, replicas)
            except Conflict:
                log.info("scale of %s/%s conflicted (attempt %d); re-reading", namespace, target.name, attempt + 1)
                await asyncio.sleep(0.05 * (attempt + 1))
        raise Conflict(f"{target.kind} {namespace}/{target.name} kept changing; scale not applied")

    async def _scale_subresource(self, namespace: str, target: TargetRef, replicas: int) -> bool:
        scale = await self._call(
            self._objects.get_namespaced_custom_object_scale,
            target.group,
            target.version,
            namespace,
            target.plural,
            target.name,
        )
        if (scale.get("spec") or {}).get("replicas") == replicas:
            return False
        scale.setdefault("spec", {})["replicas"] = replicas  # the read resourceVersion makes this conditional
        await self._call(
            self._objects.replace_namespaced_custom_object_scale,
            target.group,
            target.version,
            namespace,
            target.plural,
            target.name,
            scale,
        )
        return True

    async def _scale_inference_service(self, namespace: str, target: TargetRef, replicas: int) -> bool:
        # KServe has no scale subresource on InferenceService: pin the predictor's min and max to the decision.
        obj = await self._call(
            self._objects.get_namespaced_custom_object,
            target.group,
            target.version,
            namespace,
            target.plural,
            target.name,
        )
        predictor = (obj.get("spec") or {}).get("predictor") or {}
        if predictor.get("minReplicas") == replicas and predictor.get("maxReplicas") == max(replicas, 1):
            return False
        body = {
            "metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
            "spec": {"predictor": {"minReplicas": replicas, "maxReplicas": max(replicas, 1)}},
        }
        await self._call(
            self._objects.patch_namespaced_custom_object,
            target.group,
            target.version,
            namespace,
            target.plural,
            target.name,
            body,
        )
        return True

    async def foreign_autoscalers(self, namespace: str, target: TargetRef, state: TargetState) -> list[str]:
        """Who else scales this target: HPAs aimed at it, or KServe's own autoscaler.

        Returns:
            Descriptions such as "HorizontalPodAutoscaler llm-hpa"; empty when nobody else does.
        """
        found = []
        if target.kind == "InferenceService":
            klass = next((state.annotations[a] for a in KSERVE_AUTOSCALER_ANNOTATIONS if a in state.annotations), "")
            if klass.lower() not in KSERVE_EXTERNAL_CLASSES:
                found.append(
                    f"KServe's own autoscaler (set annotation serving.kserve.io/autoscalerClass: external"
                    f" to hand scaling over; current value {klass or 'unset'!r})"
                )
        aims = {(target.kind, target.name)}
        if target.kind == "InferenceService":
            aims.add(("Deployment", f"{target.name}-predictor"))  # what KServe's raw mode deploys and scales
        try:
            body = await self._call(
                self._objects.list_namespaced_custom_object,
                "autoscaling",
                "v2",
                namespace,
                "horizontalpodautoscalers",
            )
        except NotFound:
            return found  # no HPA API served: nothing can manage the target that way
        for hpa in body.get("items", []):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if (ref.get("kind"), ref.get("name")) in aims:
                found.append(f"HorizontalPodAutoscaler {hpa['metadata']['name']}")
        return found

    # Discovery

    async def has_events_api(self) -> bool:
        """Whether the core group serves Events (the test API server has no core group)."""
        try:
            resources = await self._call(self._core.get_api_resources)
        except KubeError:
            return False
        return any(r.name == "events" for r in (resources.resources or []))

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        from kubernetes.client.exceptions import ApiException

        try:
            return await asyncio.to_thread(fn, *args, _request_timeout=REQUEST_TIMEOUT_S)
        except ApiException as e:
            if e.status == 409:
                raise Conflict(_message(e)) from e
            if e.status == 404:
                raise NotFound(_message(e)) from e
            raise KubeError(f"API server answered {e.status}: {_message(e)}") from e
        except OSError as e:  # urllib3 connection errors derive from it
            raise KubeError(f"API server unreachable: {e}") from e
        except Exception as e:  # urllib3 MaxRetryError and friends
            if type(e).__module__.startswith("urllib3"):
                raise KubeError(f"API server unreachable: {e}") from e
            raise


def _message(e: Any) -> str:
    import json

    try:
        return json.loads(e.body).get("message", str(e.reason))
    except (TypeError, ValueError, AttributeError):
        return str(e.reason)
