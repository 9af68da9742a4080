"""Helpers of the chart tests: rendering with the real helm, lookups on rendered objects, and validation
(kubernetes-validate for built-in kinds, the operators' published schemas for custom resources).
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jsonschema
import yaml

from ragplane.runtime.services import DEFAULT_PORTS, DEPLOYABLE_NAMES, SERVICE_NAMES, callers, metrics_port_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ragplane"
SCENARIOS_DIR = CHART / "ci"
SCENARIOS = sorted(p.name.removesuffix("-values.yaml") for p in SCENARIOS_DIR.glob("*-values.yaml"))
CRD_SCHEMAS = pathlib.Path(__file__).resolve().parent / "schemas" / "crds"
HELM = ROOT / ".tools" / "bin" / "helm"
RELEASE = "rp"
NAMESPACE = "ragplane"
# The Kubernetes version manifests are validated against (the chart supports this minor and later).
KUBERNETES_VERSION = "1.31.0"

SERVICES = SERVICE_NAMES
# The gRPC services and the HTTP gateway.
DEPLOYABLES = DEPLOYABLE_NAMES
PORTS = DEFAULT_PORTS | {"triton": 8001}
METRICS_PORTS = {name: metrics_port_for(port) for name, port in DEFAULT_PORTS.items()} | {"triton": 8002}
# Who calls whom (the service table): the NetworkPolicies must allow exactly these.
CALLERS = {name: set(callers(name)) for name in SERVICE_NAMES}
CLIENT_FACING = {"orchestrator", "ingest", "eval"}


def install_helm() -> pathlib.Path | None:
    if HELM.exists():
        return HELM
    script = ROOT / "scripts" / "install-helm.sh"
    done = subprocess.run(["bash", str(script), sys.executable], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return HELM if HELM.exists() else None


@dataclass
class Rendered:
    """The objects of one `helm template`, with lookups the assertions use."""

    objects: list[dict[str, Any]]
    text: str = field(repr=False)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        matches = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert matches, f"no {kind} {name}; have {[o['metadata']['name'] for o in self.of_kind(kind)]}"
        return matches[0]

    def workload(self, name: str) -> dict[str, Any]:
        """The Deployment (or InferenceService) whose pods are app.kubernetes.io/name=<name>."""
        for obj in self.objects:
            if (
                obj["kind"] in ("Deployment", "InferenceService")
                and obj["metadata"]["labels"].get("app.kubernetes.io/name") == name
            ):
                return obj
        raise AssertionError(f"no workload named {name}")

    def names(self) -> set[str]:
        """app.kubernetes.io/name of every Deployment and InferenceService."""
        return {
            o["metadata"]["labels"]["app.kubernetes.io/name"]
            for o in self.objects
            if o["kind"] in ("Deployment", "InferenceService")
        }


def _config_data(rendered: Rendered, name: str) -> dict[str, str]:
    return next(
        (o["data"] for o in rendered.of_kind("ConfigMap") if o["metadata"]["name"].endswith(f"-ragplane-{name}")), {}
    )


def call_port(rendered: Rendered, name: str) -> int:
    """The port other workloads call ``name`` on: its internal port under mutual TLS (client-facing services,
    RAGPLANE_GRPC_INTERNAL_LISTEN), else its gRPC port."""
    internal = _config_data(rendered, name).get("RAGPLANE_GRPC_INTERNAL_LISTEN")
    return int(internal.rpartition(":")[2]) if internal else PORTS[name]


def probe_port(rendered: Rendered, name: str) -> int:
    """The port of ``name``'s probes: its plaintext health-only port under TLS, else its gRPC port."""
    health = _config_data(rendered, name).get("RAGPLANE_GRPC_HEALTH_LISTEN")
    return int(health.rpartition(":")[2]) if health else PORTS[name]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    if workload["kind"] == "InferenceService":
        return workload["spec"]["predictor"]
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    if workload["kind"] == "InferenceService":
        return workload["spec"]["predictor"]["labels"]
    return workload["spec"]["template"]["metadata"]["labels"]


def env_of(container: dict[str, Any], config: dict[str, str] | None = None) -> dict[str, Any]:
    """The container's environment: ConfigMap data (envFrom) overlaid by its env entries."""
    out: dict[str, Any] = dict(config or {})
    for entry in container.get("env", []):
        out[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return out


def run_helm(helm: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)


def template(
    helm: pathlib.Path, values_files: Iterable[pathlib.Path] = (), sets: Iterable[str] = (), check: bool = True
) -> subprocess.CompletedProcess[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for values in values_files:
        args += ["--values", str(values)]
    for item in sets:
        args += ["--set", item]
    done = run_helm(helm, *args)
    if check and done.returncode != 0:
        raise AssertionError(f"helm template failed:\n{done.stderr}")
    return done


def parse(text: str) -> Rendered:
    return Rendered([o for o in yaml.safe_load_all(text) if o], text)


def scenario_file(name: str) -> pathlib.Path:
    return SCENARIOS_DIR / f"{name}-values.yaml"


# ---- Custom resources: validated against the schemas their operators publish ----


def _strict(schema: Any) -> Any:
    """Close every object that lists its properties, as strict field validation on the API server does."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator | None:
    group, _, version = api_version.rpartition("/")
    path = CRD_SCHEMAS / f"{group}_{version}_{kind}.json.gz"
    if not path.exists():
        return None
    schema = _strict(json.loads(gzip.decompress(path.read_bytes())))
    # metadata is validated by the API server itself, not by the CRD schema.
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def crd_errors(obj: dict[str, Any]) -> list[str]:
    validator = crd_validator(obj["apiVersion"], obj["kind"])
    assert validator is not None, f"no schema for {obj['apiVersion']} {obj['kind']} under {CRD_SCHEMAS}"
    return [
        f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(obj)
    ]


def kubernetes_validate(paths: list[pathlib.Path]) -> str:
    """Run `kubernetes-validate --strict` over files; returns its output (the caller asserts on it)."""
    exe = pathlib.Path(sys.executable).with_name("kubernetes-validate")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "kubernetes_validate"]
    done = subprocess.run(
        [*cmd, "--strict", "--quiet", "-k", KUBERNETES_VERSION, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return done.stdout + done.stderr
