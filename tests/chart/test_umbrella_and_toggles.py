"""Every component has an `enabled` switch, and the chart sits inside an umbrella chart (its `global` is open)."""

from __future__ import annotations

import pathlib

import pytest
import yaml
from chart import chartlib
from chart.chartlib import NAMESPACE, RELEASE, SERVICES, parse

pytestmark = pytest.mark.chart

CHART_VERSION = yaml.safe_load((chartlib.CHART / "Chart.yaml").read_text())["version"]


def _umbrella(tmp_path: pathlib.Path, values: dict) -> pathlib.Path:
    """An umbrella chart that depends on ragplane through a file:// path, with ragplane.enabled as condition."""
    root = tmp_path / "platform"
    root.mkdir()
    (root / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "platform",
                "version": "1.0.0",
                "dependencies": [
                    {
                        "name": "ragplane",
                        "version": CHART_VERSION,
                        "repository": f"file://{chartlib.CHART}",
                        "condition": "ragplane.enabled",
                    }
                ],
            }
        )
    )
    (root / "values.yaml").write_text(yaml.safe_dump(values))
    return root


def _umbrella_values() -> dict:
    scenario = yaml.safe_load(chartlib.scenario_file("cpu-dev").read_text())
    extra_globals = {"domain": "example.org", "storageClass": "fast", "image": {"registry": "registry.example.org/rp"}}
    return {
        "global": extra_globals,
        "ragplane": {"enabled": True, **scenario},
    }


@pytest.fixture(scope="module")
def umbrella(helm, tmp_path_factory):
    root = _umbrella(tmp_path_factory.mktemp("umbrella"), _umbrella_values())
    done = chartlib.run_helm(helm, "dependency", "build", str(root))
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((root / "charts").glob("ragplane-*.tgz"))
    return root


def _template(helm, root: pathlib.Path, *sets: str):
    args = ["template", "platform", str(root), "--namespace", NAMESPACE]
    for item in sets:
        args += ["--set", item]
    return chartlib.run_helm(helm, *args)


def test_an_umbrella_chart_renders_ragplane_with_its_own_extra_globals(helm, umbrella, tmp_path):
    done = _template(helm, umbrella)
    assert done.returncode == 0, done.stderr
    rendered = parse(done.stdout)
    assert set(SERVICES) <= rendered.names()
    # the umbrella's global.image.registry reaches ragplane's images; its unknown globals are let through
    image = chartlib.pod_spec(rendered.workload("embed"))["containers"][0]["image"]
    assert image.startswith("registry.example.org/rp/embed:")
    path = tmp_path / "umbrella.yaml"
    path.write_text(done.stdout)
    errors = [line for line in chartlib.kubernetes_validate([path]).splitlines() if not line.startswith("WARN")]
    assert not errors, "\n".join(errors)


def test_the_umbrella_condition_switches_ragplane_off(helm, umbrella):
    done = _template(helm, umbrella, "ragplane.enabled=false")
    assert done.returncode == 0, done.stderr
    assert not parse(done.stdout).objects


def test_inside_an_umbrella_ragplane_keys_are_still_checked(helm, umbrella):
    done = _template(helm, umbrella, "ragplane.embed.replicaCount=2")
    assert done.returncode != 0
    assert "replicaCount" in done.stderr


def test_extra_globals_pass_the_schema_of_the_chart_alone(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], ["global.someOtherChart.enabled=true"])
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_a_disabled_service_leaves_no_object_and_no_caller_address(render, service):
    rendered = render("cpu-dev", f"{service}.enabled=false")
    assert service not in rendered.names()
    left = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in rendered.objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/name") == service
    ]
    assert not left, left
    variable = f"RAGPLANE_{service.upper()}_ADDR"
    for config in rendered.of_kind("ConfigMap"):
        assert variable not in (config.get("data") or {}), config["metadata"]["name"]


def test_the_model_server_switch(render, helm):
    on = render("cpu-dev")
    assert "modelserver" in on.names()
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], ["modelserver.enabled=false"], check=False)
    assert done.returncode != 0
    assert "llm.server is modelserver but modelserver.enabled is false" in done.stderr
    off = render("cpu-dev", "modelserver.enabled=false", "llm.server=external", "llm.externalAddress=llm.example:8001")
    assert "modelserver" not in off.names()


def test_the_triton_switch(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("gpu-tp2")], ["triton.enabled=false"], check=False)
    assert done.returncode != 0
    assert "llm.server is triton but triton.enabled is false" in done.stderr


def test_the_operator_and_the_topic_job_switches(render):
    with_operator = render("cpu-dev", "autoscaler.enabled=true")
    assert with_operator.get("Deployment", f"{RELEASE}-ragplane-autoscaler")
    assert not [o for o in render("cpu-dev").of_kind("Deployment") if o["metadata"]["name"].endswith("autoscaler")]
    assert render("cpu-dev").get("Job", f"{RELEASE}-ragplane-kafka-topics")
    assert not render("cpu-dev", "kafka.topics.enabled=false").of_kind("Job")
    assert not render("external-kafka-sasl", "kafka.topics.enabled=false").of_kind("KafkaTopic")


def test_the_old_topic_switch_is_refused_naming_it(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], ["kafka.topics.create=false"], check=False)
    assert done.returncode != 0 and "Additional property create is not allowed" in done.stderr
