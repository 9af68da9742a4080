"""Size presets: `small` fits a 3-node CPU cluster, `gpu` is the tp2 shape, and explicit values win over both."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml
from chart import chartlib
from chart.chartlib import RELEASE, parse

pytestmark = pytest.mark.chart

MINIMAL = {
    "global": {"auth": {"allowDevKey": True, "serviceToken": {"secretName": "t"}}},
    "kafka": {"bootstrapServers": "kafka:9092"},
    "redis": {"url": "redis://redis:6379/0"},
    "stateRedis": {"url": "redis://state:6379/0"},
    "qdrant": {"url": "http://qdrant:6333"},
}
# A 3-node CPU pool of 4 vCPU / 16 GiB machines (e2-standard-4, m5.xlarge): what the kubelet leaves allocatable
# after the system and kube reservations, with room for the DaemonSets (CNI, kube-proxy, logging).
NODES = 3
NODE_CPU = 3.5
NODE_MEMORY_GIB = 13.0


def _quantity(value) -> float:
    """CPU in cores or memory in GiB from a Kubernetes quantity."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", text)
    assert match, text
    number, unit = float(match.group(1)), match.group(2)
    return number * units[unit] if unit else number


def _render(helm, tmp_path, *sets: str, extra: dict | None = None):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(_merge(MINIMAL, extra or {})))
    return parse(chartlib.template(helm, [values], sets).stdout)


def _merge(base, extra):
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in extra.items()}}
    return extra


def _pods(rendered) -> list[tuple[str, float, float]]:
    """(workload, cpu, memory GiB) of every pod the Deployments ask for."""
    pods = []
    for deployment in rendered.of_kind("Deployment"):
        requests = chartlib.pod_spec(deployment)["containers"][0]["resources"]["requests"]
        name = deployment["metadata"]["labels"]["app.kubernetes.io/name"]
        for _ in range(deployment["spec"]["replicas"]):
            pods.append((name, _quantity(requests["cpu"]), _quantity(requests["memory"])))
    return pods


def _first_fit_decreasing(pods) -> list[list[tuple[str, float, float]]] | None:
    """Pack the pods onto NODES nodes by first-fit decreasing (a scheduler does no worse); None if one does not fit."""
    nodes: list[list] = [[] for _ in range(NODES)]
    for pod in sorted(pods, key=lambda p: p[1] / NODE_CPU + p[2] / NODE_MEMORY_GIB, reverse=True):
        for node in nodes:
            if sum(p[1] for p in node) + pod[1] <= NODE_CPU and sum(p[2] for p in node) + pod[2] <= NODE_MEMORY_GIB:
                node.append(pod)
                break
        else:
            return None
    return nodes


def test_the_small_preset_fits_a_three_node_cpu_cluster(helm, tmp_path):
    default = _pods(_render(helm, tmp_path))
    small = _pods(_render(helm, tmp_path, "preset=small"))
    cpu, memory = sum(p[1] for p in small), sum(p[2] for p in small)
    print(f"small: {len(small)} pods, {cpu:.2f} CPU, {memory:.2f} GiB requested")  # 5.45 CPU, 12.38 GiB
    assert cpu <= NODES * NODE_CPU and memory <= NODES * NODE_MEMORY_GIB
    assert _first_fit_decreasing(small) is not None, small
    # every service is there, and the defaults alone would not fit
    assert {p[0] for p in small} == set(chartlib.DEPLOYABLES) | {"modelserver"}
    assert _first_fit_decreasing(default) is None or sum(p[1] for p in default) > NODES * NODE_CPU


def test_explicit_values_win_over_the_preset(helm, tmp_path):
    rendered = _render(
        helm, tmp_path, "preset=small", "orchestrator.replicas=3", "orchestrator.resources.requests.cpu=1"
    )
    orchestrator = rendered.get("Deployment", f"{RELEASE}-ragplane-orchestrator")
    assert orchestrator["spec"]["replicas"] == 3
    requests = chartlib.pod_spec(orchestrator)["containers"][0]["resources"]["requests"]
    assert requests == {"cpu": 1, "memory": "512Mi"}  # the cpu set, the memory from the preset
    ingest = rendered.get("Deployment", f"{RELEASE}-ragplane-ingest")
    assert chartlib.pod_spec(ingest)["containers"][0]["resources"]["requests"]["cpu"] == "250m"


def _gpu_shape(rendered) -> dict:
    shape = {}
    for name in ("triton", "embed", "rerank"):
        workload = rendered.workload(name)
        spec = chartlib.pod_spec(workload)
        container = spec["containers"][0]
        shape[name] = {
            "replicas": workload["spec"].get("replicas"),
            "gpus": {k: v for k, v in container["resources"]["limits"].items() if "/" in k},
            "tolerations": spec.get("tolerations"),
            "image": container["image"].rpartition(":")[0] if name != "triton" else None,
        }
    triton = chartlib.pod_spec(rendered.workload("triton"))
    shm = [v for v in triton["volumes"] if v["name"] in ("shm", "dshm")]
    shape["shm"] = shm[0]["emptyDir"]["sizeLimit"] if shm else None
    return shape


def test_the_gpu_preset_is_the_tp2_scenarios_gpu_shape(helm, tmp_path, rendered_scenarios):
    scenario = yaml.safe_load(chartlib.scenario_file("gpu-tp2").read_text())
    # the user's part: placement, the engines' volume, the model; the preset brings the GPU shape
    placement = {
        "llm": {"model": scenario["llm"]["model"]},
        "triton": {"modelRepository": scenario["triton"]["modelRepository"]},
        "global": {"image": {"registry": "ghcr.io/ragplane"}},
        **{name: {"nodeSelector": scenario[name]["nodeSelector"]} for name in ("embed", "rerank")},
    }
    placement["triton"]["nodeSelector"] = scenario["triton"]["nodeSelector"]
    rendered = _render(helm, tmp_path, "preset=gpu", extra=placement)
    assert _gpu_shape(rendered) == _gpu_shape(rendered_scenarios["gpu-tp2"])
    assert _gpu_shape(rendered)["triton"]["gpus"] == {"nvidia.com/gpu": 2}
    assert _gpu_shape(rendered)["shm"] == "32Gi"


def test_the_gpu_preset_gives_way_to_an_explicit_parallelism(helm, tmp_path):
    extra = {"triton": {"modelRepository": {"source": "pvc", "pvc": {"claimName": "engines"}}}}
    rendered = _render(helm, tmp_path, "preset=gpu", "triton.gpu.tensorParallelSize=4", extra=extra)
    limits = chartlib.pod_spec(rendered.workload("triton"))["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 4


@pytest.mark.parametrize("preset", ["small", "gpu"])
def test_each_preset_names_only_values_the_schema_knows(preset):
    schema = json.loads((chartlib.CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((chartlib.CHART / "values.yaml").read_text())
    values = yaml.safe_load((chartlib.CHART / "files" / "presets" / f"{preset}.yaml").read_text())
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(_merge(defaults, values))]
    assert not errors, errors


def test_an_unknown_preset_is_refused(helm, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(MINIMAL))
    done = chartlib.template(helm, [values], ["preset=huge"], check=False)
    assert done.returncode != 0 and "preset" in done.stderr


def test_the_autoscalers_llm_example_sees_the_presets_parallelism(helm, tmp_path):
    """Templates that read values outside a workload (here the operator's examples) see the preset too."""
    extra = {
        "triton": {"modelRepository": {"source": "pvc", "pvc": {"claimName": "engines"}}},
        "autoscaler": {
            "enabled": True,
            "gpuPools": {"llm-h100": 8},
            "examples": {
                "enabled": True,
                "llm": {"prometheusURL": "http://prometheus-operated.monitoring.svc:9090", "gpuPool": "llm-h100"},
            },
        },
    }
    rendered = _render(helm, tmp_path, "preset=gpu", extra=extra)
    scaler = rendered.get("RagAutoscaler", f"{RELEASE}-ragplane-llm")
    assert scaler["spec"]["gpu"]["tensorParallel"] == 2


def test_what_each_preset_renders_is_valid_for_kubernetes(helm, tmp_path):
    extra = {"triton": {"modelRepository": {"source": "pvc", "pvc": {"claimName": "engines"}}}}
    paths = []
    for preset in ("small", "gpu"):
        path = tmp_path / f"{preset}.yaml"
        path.write_text(_render(helm, tmp_path, f"preset={preset}", extra=extra).text)
        paths.append(path)
    lines = chartlib.kubernetes_validate(paths).splitlines()
    errors = [line for line in lines if not line.startswith("WARN")]
    assert not errors, "\n".join(errors)
