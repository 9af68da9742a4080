"""values.schema.json rejects wrong types and unknown keys with messages that name the value."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml
from chart import chartlib

pytestmark = pytest.mark.chart

SCHEMA_FILE = chartlib.CHART / "values.schema.json"
GENERATOR = chartlib.CHART / "schema" / "values_schema.py"


def helm_error(helm, *sets: str) -> str:
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], sets, check=False)
    assert done.returncode != 0, f"{sets} was accepted"
    return done.stderr


def test_a_wrong_type_is_rejected_naming_the_value_and_the_types(helm):
    error = helm_error(helm, "orchestrator.replicas=two")
    assert "orchestrator.replicas: Invalid type. Expected: integer, given: string" in error


def test_an_unknown_key_is_rejected_naming_it(helm):
    error = helm_error(helm, "embed.replicaCount=2")
    assert "embed: Additional property replicaCount is not allowed" in error


def test_an_unknown_top_level_block_is_rejected(helm):
    assert "Additional property embedder is not allowed" in helm_error(helm, "embedder.enabled=true")


def test_running_as_root_cannot_be_configured(helm):
    assert "runAsUser: Must be greater than or equal to 1" in helm_error(
        helm, "guardrail.podSecurityContext.runAsUser=0"
    )


def test_tensor_parallel_size_must_be_a_positive_integer(helm):
    error = helm_error(helm, "triton.gpu.tensorParallelSize=0")
    assert "triton.gpu.tensorParallelSize: Must be greater than or equal to 1" in error


def test_enumerations_list_what_is_allowed(helm):
    error = helm_error(helm, "llm.server=vllm")
    assert "llm.server" in error and "modelserver" in error and "triton" in error


def test_the_committed_schema_is_what_its_source_generates():
    done = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or done.stdout


def test_the_schema_is_valid_draft7_and_accepts_the_defaults_and_every_scenario():
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    defaults = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    assert not list(validator.iter_errors(defaults))
    for scenario in chartlib.SCENARIOS:
        values = yaml.safe_load(chartlib.scenario_file(scenario).read_text())
        merged = _merge(defaults, values)
        errors = [e.message for e in validator.iter_errors(merged)]
        assert not errors, (scenario, errors)


def test_every_workload_block_has_the_same_keys():
    values = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    exposure = {"ingress", "grpcRoute"}  # the client-facing services' own keys
    shapes = {
        name: set(values[name]) - {"enabled", "remoteModels"} - exposure for name in (*chartlib.SERVICES, "modelserver")
    }
    assert {name for name in chartlib.SERVICES if exposure <= set(values[name])} == chartlib.CLIENT_FACING
    assert len({frozenset(s) for s in shapes.values()}) == 1, shapes
    triton_only = {"shmSize", "modelRepository", "tensorrtLLMModelName", "extraArgs", "kserve", "tls"}
    assert set(values["triton"]) - triton_only - {"enabled"} == shapes["orchestrator"] - {"models"}
    assert all(values[name]["enabled"] is True for name in (*chartlib.SERVICES, "modelserver", "triton"))


def test_the_autoscaler_block_stays_open_for_its_operator(helm):
    done = chartlib.template(
        helm, [chartlib.scenario_file("cpu-dev")], ["autoscaler.someOperatorSetting=3"], check=False
    )
    assert done.returncode == 0, done.stderr
    assert "autoscaler.enabled: Invalid type" in helm_error(helm, "autoscaler.enabled=maybe")


def _leaf_paths(node, prefix=""):
    """Dotted paths of the values; maps that are free-form (labels, selectors, env) count as one value."""
    free_form = (
        "nodeSelector",
        "affinity",
        "podAnnotations",
        "podLabels",
        "annotations",
        "labels",
        "env",
        "overrides",
        "volume",
        "strategy",
        "requests",
        "limits",
        "serviceAccount",
        "service",
    )
    if isinstance(node, dict) and node and not prefix.endswith(free_form):
        for key, value in node.items():
            yield from _leaf_paths(value, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix


# The autoscaler block's shared keys; the operator adds and documents its own.
_AUTOSCALER_BASE_KEYS = {
    "enabled",
    "image",
    "resources",
    "nodeSelector",
    "tolerations",
    "affinity",
    "podSecurityContext",
}


def test_every_value_is_documented_in_the_deployment_guide():
    values = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    guide = (chartlib.ROOT / "docs" / "deploy.md").read_text()
    workloads = (*chartlib.DEPLOYABLES, "modelserver")
    missing = []
    for path in _leaf_paths(values):
        head, _, rest = path.partition(".")
        if head == "autoscaler" and rest.split(".")[0] not in _AUTOSCALER_BASE_KEYS:
            continue  # the operator's own keys, documented with the operator
        spellings = [f"<workload>.{rest}"] if head in workloads else [path]
        if head == "triton":  # keys Triton shares with the workloads are documented once, for all
            spellings.append(f"<workload>.{rest}")
        if not any(f"`{spelling}`" in guide for spelling in spellings):
            missing.append(spellings[0])
    assert not sorted(set(missing)), sorted(set(missing))


def _merge(base, override):
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override
