"""The environment a rendered container would see in its pod: ConfigMaps (envFrom), then its env entries with
Secrets resolved from test values and ``$(VAR)`` references expanded, as the kubelet does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chart.chartlib import Rendered, pod_spec

_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _config_maps(rendered: Rendered, container: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        ref = source["configMapRef"]["name"]
        out.update(rendered.get("ConfigMap", ref).get("data", {}))
    return out


def _value_from(
    ref: dict[str, Any], secrets: Mapping[tuple[str, str], str], fields: Mapping[str, str] | None = None
) -> str:
    if "secretKeyRef" in ref:
        key = (ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
        assert key in secrets, f"the test gives no value for Secret {key[0]} key {key[1]}"
        return secrets[key]
    if "fieldRef" in ref:
        path = ref["fieldRef"]["fieldPath"]
        if fields and path in fields:
            return fields[path]
        return f"test-{ref['fieldRef']['fieldPath'].replace('.', '-')}"
    raise AssertionError(f"unsupported valueFrom {ref}")


def container_environment(
    rendered: Rendered,
    container: dict[str, Any],
    secrets: Mapping[tuple[str, str], str],
    fields: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A container's environment: its ConfigMaps (envFrom), then its env entries in order.

    Args:
        rendered: the rendered chart (for the ConfigMaps).
        container: the container as rendered.
        secrets: test values of the Secrets it references, keyed by (Secret name, key).
        fields: values of fieldRef paths (``metadata.name``, ...); unnamed ones become ``test-<path>``.
    """
    environ = _config_maps(rendered, container)
    for entry in container.get("env") or []:
        raw = entry["value"] if "value" in entry else _value_from(entry["valueFrom"], secrets, fields or {})
        # $(VAR) refers to a variable defined before it; unknown references stay as written (kubelet semantics).
        environ[entry["name"]] = _REFERENCE.sub(lambda m: environ.get(m.group(1), m.group(0)), raw)
    return environ


def pod_environment(rendered: Rendered, workload: str, secrets: Mapping[tuple[str, str], str]) -> dict[str, str]:
    """The main container's environment of ``workload``.

    Args:
        rendered: the rendered chart.
        workload: the app.kubernetes.io/name of the workload.
        secrets: test values of the Secrets it references, keyed by (Secret name, key).
    """
    return container_environment(rendered, pod_spec(rendered.workload(workload))["containers"][0], secrets)
