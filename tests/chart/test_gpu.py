"""GPU node pools and the tensor/pipeline-parallel Triton workload."""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess

import pytest
from chart import chartlib
from chart.chartlib import RELEASE, SERVICES, env_of, pod_spec

pytestmark = pytest.mark.chart

LAUNCH = chartlib.CHART / "files" / "triton-launch.sh"


def triton_container(rendered) -> dict:
    [container] = pod_spec(rendered.workload("triton"))["containers"]
    return container


def gpus(container, resource="nvidia.com/gpu") -> tuple[int, int]:
    return container["resources"]["requests"].get(resource, 0), container["resources"]["limits"].get(resource, 0)


@pytest.mark.parametrize(("scenario", "world"), [("gpu-tp2", 2), ("gpu-tp4-pp2", 8), ("kserve-llm", 2)])
def test_triton_requests_tp_times_pp_gpus_and_runs_that_world_size(rendered_scenarios, scenario, world):
    container = triton_container(rendered_scenarios[scenario])
    assert gpus(container) == (world, world)
    env = env_of(container)
    assert int(env["WORLD_SIZE"]) == world == int(env["TP_SIZE"]) * int(env["PP_SIZE"])


@pytest.mark.parametrize(("tp", "pp"), [(1, 1), (8, 1), (2, 4)])
def test_gpu_count_follows_any_tp_pp_combination(render, tp, pp):
    rendered = render("gpu-tp2", f"triton.gpu.tensorParallelSize={tp}", f"triton.gpu.pipelineParallelSize={pp}")
    container = triton_container(rendered)
    assert gpus(container) == (tp * pp, tp * pp)
    assert env_of(container)["WORLD_SIZE"] == str(tp * pp)
    assert rendered.workload("triton")["metadata"]["annotations"]["ragplane.io/world-size"] == str(tp * pp)


def test_the_gpu_resource_name_is_configurable(render):
    rendered = render("gpu-tp2", "triton.gpu.resourceName=nvidia.com/mig-3g.40gb")
    assert gpus(triton_container(rendered), "nvidia.com/mig-3g.40gb") == (2, 2)
    assert gpus(triton_container(rendered)) == (0, 0)


def test_gpus_declared_under_resources_are_refused(helm):
    done = chartlib.template(
        helm, [chartlib.scenario_file("gpu-tp2")], ["triton.resources.limits.nvidia\\.com/gpu=4"], check=False
    )
    assert done.returncode != 0
    assert "declare GPUs in the gpu block of triton" in done.stderr


def test_shm_is_memory_backed_and_sized(rendered_scenarios):
    for scenario, size in (("gpu-tp2", "32Gi"), ("gpu-tp4-pp2", "64Gi"), ("kserve-llm", "16Gi")):
        spec = pod_spec(rendered_scenarios[scenario].workload("triton"))
        shm = {v["name"]: v for v in spec["volumes"]}["shm"]
        assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": size}, scenario
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert mounts["shm"] == "/dev/shm"


def test_triton_health_drives_startup_and_readiness(rendered_scenarios):
    container = triton_container(rendered_scenarios["gpu-tp2"])
    assert container["startupProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8000}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8000}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8000}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800


def test_model_repository_comes_from_a_read_only_pvc(rendered_scenarios):
    spec = pod_spec(rendered_scenarios["gpu-tp2"].workload("triton"))
    volume = {v["name"]: v for v in spec["volumes"]}["model-repository"]
    assert volume["persistentVolumeClaim"] == {"claimName": "trtllm-llama-3-8b-tp2", "readOnly": True}
    mount = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}["model-repository"]
    assert mount == {"name": "model-repository", "mountPath": "/models", "readOnly": True, "subPath": "triton-repo"}
    assert env_of(spec["containers"][0])["MODEL_REPOSITORY"] == "/models"


def test_model_repository_is_copied_from_the_object_store_first(rendered_scenarios):
    spec = pod_spec(rendered_scenarios["gpu-tp4-pp2"].workload("triton"))
    [init] = spec["initContainers"]
    assert init["args"][-2:] == [":s3,provider=AWS,env_auth=true:ragplane-models/llama-3-70b/trtllm-tp4-pp2", "/models"]
    volume = {v["name"]: v for v in spec["volumes"]}["model-repository"]
    assert volume["emptyDir"] == {"sizeLimit": "400Gi"}


def test_a_pvc_source_without_a_claim_is_refused(helm):
    done = chartlib.template(
        helm, [chartlib.scenario_file("gpu-tp2")], ["triton.modelRepository.pvc.claimName="], check=False
    )
    assert "triton.modelRepository.pvc.claimName must be set" in done.stderr


def test_kserve_mode_renders_an_inference_service_instead_of_a_deployment(rendered_scenarios):
    rendered = rendered_scenarios["kserve-llm"]
    assert not [d for d in rendered.of_kind("Deployment") if d["metadata"]["name"].endswith("-triton")]
    isvc = rendered.get("InferenceService", f"{RELEASE}-ragplane-triton")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = isvc["spec"]["predictor"]
    [container] = predictor["containers"]
    assert container["name"] == "kserve-container"
    assert container["ports"][0] == {"name": "h2c", "containerPort": 8001, "protocol": "TCP"}
    env = env_of(container)
    assert env["STORAGE_URI"] == "pvc://trtllm-engines/mistral-7b-tp2"
    assert env["MODEL_REPOSITORY"] == "/mnt/models"
    assert predictor["minReplicas"] == predictor["maxReplicas"] == 2
    assert predictor["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L40S"}
    # Our labels reach KServe's pods, so the PDB, NetworkPolicy and ServiceMonitor select them.
    assert predictor["labels"]["app.kubernetes.io/name"] == "triton"
    metrics = rendered.get("Service", f"{RELEASE}-ragplane-triton-metrics")
    assert metrics["spec"]["ports"][0]["port"] == 8002


POOLS = {
    "gpu-tp2": {"triton": "llm-h100", "embed": "encoders-l4", "rerank": "encoders-l4"},
}


def test_node_pool_placement_lands_on_the_right_pods(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp2"]
    gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    for name in [*SERVICES, "triton"]:
        spec = pod_spec(rendered.workload(name))
        pool = POOLS["gpu-tp2"].get(name)
        if pool:
            assert spec["nodeSelector"] == {"cloud.google.com/gke-nodepool": pool}, name
            assert gpu_toleration in spec["tolerations"], name
        else:
            assert "nodeSelector" not in spec and "tolerations" not in spec, name


def test_pool_affinity_and_tolerations_reach_the_triton_pods(rendered_scenarios):
    spec = pod_spec(rendered_scenarios["gpu-tp4-pp2"].workload("triton"))
    assert spec["nodeSelector"] == {"node.kubernetes.io/instance-type": "p5.48xlarge", "ragplane.io/pool": "llm"}
    assert {"key": "ragplane.io/pool", "operator": "Equal", "value": "llm", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["key"] == "topology.kubernetes.io/zone"


def test_encoders_on_a_gpu_pool_request_one_gpu_and_use_cuda(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp2"]
    for name, env_name in (("embed", "RAGPLANE_EMBED_DEVICE"), ("rerank", "RAGPLANE_RERANK_DEVICE")):
        [container] = pod_spec(rendered.workload(name))["containers"]
        assert gpus(container) == (1, 1)
        config = rendered.get("ConfigMap", f"{RELEASE}-ragplane-{name}")["data"]
        assert config[env_name] == "cuda"
    cpu = rendered_scenarios["cpu-dev"]
    assert gpus(pod_spec(cpu.workload("embed"))["containers"][0]) == (0, 0)
    assert cpu.get("ConfigMap", f"{RELEASE}-ragplane-embed")["data"]["RAGPLANE_EMBED_DEVICE"] == "cpu"


def test_encoders_can_run_on_the_triton_server_instead(render):
    rendered = render("gpu-tp2", "embed.remoteModels=true", "embed.gpu.count=0")
    config = rendered.get("ConfigMap", f"{RELEASE}-ragplane-embed")["data"]
    assert config["RAGPLANE_EMBED_BACKEND"] == "triton"
    assert config["RAGPLANE_EMBED_TRITON_URL"] == f"dns:///{RELEASE}-ragplane-triton-headless.ragplane.svc:8001"
    policy = rendered.get("NetworkPolicy", f"{RELEASE}-ragplane-triton")
    callers = [
        p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        for rule in policy["spec"]["ingress"]
        if any(port["port"] == 8001 for port in rule.get("ports", []))
        for p in rule.get("from", [])
        if "podSelector" in p
    ]
    assert set(callers) == {"generate", "embed"}


def test_gpu_rollouts_do_not_need_a_spare_node(rendered_scenarios):
    strategy = rendered_scenarios["gpu-tp2"].workload("triton")["spec"]["strategy"]
    assert strategy["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


# ---- the launch script itself, with stand-ins for mpirun, tritonserver and nvidia-smi ----


@pytest.fixture
def fake_bin(tmp_path: pathlib.Path) -> pathlib.Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    for tool in ("mpirun", "tritonserver"):
        script = bin_dir / tool
        script.write_text(
            f"#!/usr/bin/env python3\nimport json, sys\n"
            f'json.dump([{tool!r}, *sys.argv[1:]], open({str(record)!r}, "w"))\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    smi = bin_dir / "nvidia-smi"
    smi.write_text('#!/bin/sh\nfor i in $(seq 1 "${FAKE_GPUS:-8}"); do echo "GPU $i"; done\n')
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def launch(
    fake_bin: pathlib.Path,
    tmp_path: pathlib.Path,
    tp: int,
    pp: int,
    world: int,
    gpus_visible: int = 8,
    engine: tuple[int, int] | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[str] | None]:
    repo = tmp_path / "repo"
    (repo / "tensorrt_llm" / "1").mkdir(parents=True, exist_ok=True)
    if engine:
        (repo / "engines").mkdir(exist_ok=True)
        (repo / "engines" / "config.json").write_text(
            json.dumps({"pretrained_config": {"mapping": {"tp_size": engine[0], "pp_size": engine[1]}}})
        )
    env = {
        **os.environ,
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        "WORLD_SIZE": str(world),
        "TP_SIZE": str(tp),
        "PP_SIZE": str(pp),
        "MODEL_REPOSITORY": str(repo),
        "TRTLLM_MODEL_NAME": "tensorrt_llm",
        "GRPC_PORT": "8001",
        "HTTP_PORT": "8000",
        "METRICS_PORT": "8002",
        "FAKE_GPUS": str(gpus_visible),
    }
    done = subprocess.run(["bash", str(LAUNCH), "--log-verbose=1"], env=env, capture_output=True, text=True, timeout=60)
    record = tmp_path / "argv.json"
    return done, (json.loads(record.read_text()) if record.exists() else None)


def test_launch_starts_one_mpi_rank_per_gpu(fake_bin, tmp_path):
    done, argv = launch(fake_bin, tmp_path, tp=4, pp=2, world=8, engine=(4, 2))
    assert done.returncode == 0, done.stderr
    assert argv[0] == "mpirun"
    ranks = " ".join(argv).split(" : ")
    assert len(ranks) == 8
    assert "--backend-config=python,shm-region-prefix-name=prefix0_" in ranks[0]
    assert "--log-verbose=1" in ranks[0]
    for rank, part in enumerate(ranks[1:], start=1):
        assert f"shm-region-prefix-name=prefix{rank}_" in part
        assert "--load-model=tensorrt_llm" in part and "--model-control-mode=explicit" in part


def test_launch_without_parallelism_execs_tritonserver_directly(fake_bin, tmp_path):
    done, argv = launch(fake_bin, tmp_path, tp=1, pp=1, world=1)
    assert done.returncode == 0, done.stderr
    assert argv[0] == "tritonserver" and "--grpc-port=8001" in argv


def test_launch_refuses_a_world_size_that_is_not_tp_times_pp(fake_bin, tmp_path):
    done, argv = launch(fake_bin, tmp_path, tp=2, pp=2, world=2)
    assert done.returncode != 0 and argv is None
    assert "world size 2 is not tensorParallelSize 2 x pipelineParallelSize 2" in done.stderr


def test_launch_refuses_when_the_pod_sees_too_few_gpus(fake_bin, tmp_path):
    done, _ = launch(fake_bin, tmp_path, tp=4, pp=1, world=4, gpus_visible=2)
    assert done.returncode != 0
    assert "2 GPU(s) visible, 4 needed" in done.stderr


def test_launch_refuses_an_engine_built_for_another_mapping(fake_bin, tmp_path):
    done, argv = launch(fake_bin, tmp_path, tp=2, pp=1, world=2, engine=(4, 1))
    assert done.returncode != 0 and argv is None
    assert "was built for tp=4 pp=1, but this replica runs tp=2 pp=1" in done.stderr
