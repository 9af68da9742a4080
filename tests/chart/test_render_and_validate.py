"""The chart lints, renders every scenario, and every rendered object is valid for its kind."""

from __future__ import annotations

import pathlib
import re

import pytest
from chart import chartlib
from chart.chartlib import SCENARIOS

pytestmark = pytest.mark.chart

# Kinds kubernetes-validate has no schema for; each is checked against its operator's schema instead.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "KafkaTopic", "InferenceService", "GRPCRoute"}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict_passes(helm, scenario):
    done = chartlib.run_helm(
        helm, "lint", "--strict", str(chartlib.CHART), "--values", str(chartlib.scenario_file(scenario))
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_required_scenario_exists():
    assert {"cpu-dev", "gpu-tp2", "gpu-tp4-pp2", "kserve-llm", "external-kafka-sasl"} <= set(SCENARIOS)


@pytest.fixture(scope="module")
def validation_output(rendered_scenarios, tmp_path_factory) -> dict[str, str]:
    """kubernetes-validate --strict over each rendered scenario (one process for all, output split per file)."""
    folder = tmp_path_factory.mktemp("rendered")
    paths = []
    for name, rendered in rendered_scenarios.items():
        path = folder / f"{name}.yaml"
        path.write_text(rendered.text)
        paths.append(path)
    output = chartlib.kubernetes_validate(paths)
    return {
        name: "\n".join(line for line in output.splitlines() if f"/{name}.yaml" in line) for name in rendered_scenarios
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_rendered_manifests_pass_kubernetes_validate_strict(validation_output, rendered_scenarios, scenario):
    lines = validation_output[scenario].splitlines()
    errors = [line for line in lines if not line.startswith("WARN")]
    assert not errors, "\n".join(errors)
    skipped = {m.group(1) for line in lines if (m := re.search(r"schema for kind (\w+)", line))}
    assert skipped <= CUSTOM_KINDS, f"kinds nobody validated: {skipped - CUSTOM_KINDS}"
    # It really looked at the built-in objects: a broken one must show up as an ERROR line, not vanish.
    assert rendered_scenarios[scenario].of_kind("Deployment")


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports: [{port: 1, portt: 2}]\n")
    assert "ERROR" in chartlib.kubernetes_validate([bad])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_custom_resources_match_their_operators_schemas(rendered_scenarios, scenario):
    errors = [
        e
        for obj in rendered_scenarios[scenario].objects
        if obj["kind"] in CUSTOM_KINDS
        for e in chartlib.crd_errors(obj)
    ]
    assert not errors, "\n".join(errors)


def test_each_custom_kind_is_rendered_by_some_scenario(rendered_scenarios):
    seen = {obj["kind"] for rendered in rendered_scenarios.values() for obj in rendered.objects}
    assert CUSTOM_KINDS <= seen


def test_operator_schema_check_rejects_an_unknown_field(rendered_scenarios):
    monitor = dict(rendered_scenarios["gpu-tp2"].of_kind("ServiceMonitor")[0])
    monitor["spec"] = {**monitor["spec"], "endpoint": []}
    assert any("endpoint" in e for e in chartlib.crd_errors(monitor))


def test_rendering_without_the_external_systems_names_what_is_missing(helm):
    done = chartlib.template(
        helm, [], ["global.auth.allowDevKey=true", "global.auth.serviceToken.secretName=t"], check=False
    )
    assert done.returncode != 0
    assert "must be set" in done.stderr
    assert re.search(r"kafka\.bootstrapServers|[rR]edis\.url|qdrant\.url", done.stderr), done.stderr


def test_production_defaults_require_secret_references(helm, tmp_path):
    values = tmp_path / "v.yaml"
    values.write_text(
        "kafka: {bootstrapServers: 'k:9092'}\nredis: {url: 'redis://r:6379/0'}\nqdrant: {url: 'http://q:6333'}\n"
        "stateRedis: {url: 'redis://s:6379/0'}\n"
    )
    done = chartlib.template(helm, [values], check=False)
    assert done.returncode != 0
    assert "global.auth.serviceToken.secretName must be set" in done.stderr
    done = chartlib.template(helm, [values], ["global.auth.serviceToken.secretName=t"], check=False)
    assert "global.auth.apiKeys.secretName must be set" in done.stderr


def test_packaged_chart_leaves_out_scenarios_and_schema_source(helm, tmp_path):
    done = chartlib.run_helm(helm, "package", str(chartlib.CHART), "--destination", str(tmp_path))
    assert done.returncode == 0, done.stderr
    import tarfile

    [archive] = pathlib.Path(tmp_path).glob("ragplane-*.tgz")
    names = tarfile.open(archive).getnames()
    assert "ragplane/values.schema.json" in names
    assert not [n for n in names if n.startswith(("ragplane/ci/", "ragplane/schema/"))]
