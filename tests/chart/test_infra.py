"""infra/: cluster prerequisites are valid manifests and agree with the chart's scenarios."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest
import yaml
from chart import chartlib
from chart.chartlib import ROOT

pytestmark = pytest.mark.chart

INFRA = ROOT / "infra"
OWN = [p for p in sorted(INFRA.rglob("*.yaml")) if "local" not in p.relative_to(INFRA).parts]


def documents(path: pathlib.Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests() -> list[pathlib.Path]:
    """Files of Kubernetes objects (the rest are Helm values files for third-party charts)."""
    return [p for p in OWN if all("apiVersion" in d and "kind" in d for d in documents(p))]


def test_infra_covers_the_prerequisites():
    for folder in ("dev", "gke", "eks", "gpu-operator", "kafka", "qdrant"):
        assert (INFRA / folder).is_dir(), folder
    assert list((INFRA / "gke").glob("*.tf")) and list((INFRA / "eks").glob("*.tf"))


def test_every_yaml_file_parses():
    for path in OWN:
        assert documents(path), path


def test_core_manifests_pass_kubernetes_validate_strict(tmp_path):
    files = manifests()
    assert files
    output = chartlib.kubernetes_validate(files)
    problems = [line for line in output.splitlines() if not (line.startswith("WARN") and "kafka.strimzi.io" in line)]
    assert not problems, "\n".join(problems)


def test_strimzi_resources_match_strimzis_schemas():
    errors = [
        e
        for path in manifests()
        for d in documents(path)
        if d["apiVersion"].startswith("kafka.strimzi.io/")
        for e in chartlib.crd_errors(d)
    ]
    assert not errors, "\n".join(errors)


def test_the_kafka_user_may_use_every_ragplane_topic_and_group():
    [user] = [d for d in documents(INFRA / "kafka" / "kafka.yaml") if d["kind"] == "KafkaUser"]
    acls = {
        (a["resource"]["type"], a["resource"]["name"]): set(a["operations"])
        for a in user["spec"]["authorization"]["acls"]
    }
    assert {"Read", "Write", "Describe"} <= acls[("topic", "ragplane.")]
    assert {"Read"} <= acls[("group", "ragplane-")]
    [kafka] = [d for d in documents(INFRA / "kafka" / "kafka.yaml") if d["kind"] == "Kafka"]
    scram = [
        listener
        for listener in kafka["spec"]["kafka"]["listeners"]
        if listener.get("authentication", {}).get("type") == "scram-sha-512"
    ]
    assert scram and scram[0]["tls"] is True


def test_the_dev_dependencies_are_where_the_cpu_dev_scenario_looks():
    values = yaml.safe_load(chartlib.scenario_file("cpu-dev").read_text())
    services = {
        d["metadata"]["name"]: d
        for path in (INFRA / "dev").glob("*.yaml")
        for d in documents(path)
        if d["kind"] == "Service"
    }
    for address, name, port in (
        (values["kafka"]["bootstrapServers"], "kafka", 9092),
        (values["redis"]["url"], "redis", 6379),
        (values["qdrant"]["url"], "qdrant", 6333),
    ):
        assert f"{name}.ragplane-dev.svc:{port}" in address
        assert port in [p["port"] for p in services[name]["spec"]["ports"]]
    namespace = sorted((INFRA / "dev").glob("*.yaml"))[0]
    assert documents(namespace)[0]["kind"] == "Namespace", "the namespace must be applied first"


def test_node_pool_labels_and_taints_match_the_gpu_scenarios():
    gke = (INFRA / "gke" / "node-pools.tf").read_text()
    tp2 = yaml.safe_load(chartlib.scenario_file("gpu-tp2").read_text())
    for block in ("triton", "embed", "rerank"):
        pool = tp2[block]["nodeSelector"]["cloud.google.com/gke-nodepool"]
        assert f'name     = "{pool}"' in gke or f'name           = "{pool}"' in gke, pool
    eks = (INFRA / "eks" / "node-groups.tf").read_text()
    tp4 = yaml.safe_load(chartlib.scenario_file("gpu-tp4-pp2").read_text())["triton"]
    assert tp4["nodeSelector"]["node.kubernetes.io/instance-type"] in eks
    for toleration in tp4["tolerations"]:
        assert f'key    = "{toleration["key"]}"' in eks


def test_terraform_is_formatted():
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed here; the HCL is checked with `terraform fmt -check` where it is")
    done = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
