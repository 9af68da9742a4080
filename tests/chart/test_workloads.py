"""Every workload gets its full object set, hardened pods, probes, resources and its settings."""

from __future__ import annotations

import pytest
from chart import chartlib
from chart.chartlib import DEPLOYABLES, METRICS_PORTS, PORTS, RELEASE, SCENARIOS, SERVICES, env_of, pod_spec

pytestmark = pytest.mark.chart


def workloads_of(rendered) -> list[dict]:
    return rendered.of_kind("Deployment") + rendered.of_kind("InferenceService")


def all_containers(workload) -> list[dict]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def config_of(rendered, name: str) -> dict[str, str]:
    return rendered.get("ConfigMap", f"{RELEASE}-ragplane-{name}")["data"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_service_has_deployment_service_account_config_pdb_and_network_policy(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    llm = {"cpu-dev": {"modelserver"}, "tls-mtls": {"modelserver"}, "external-kafka-sasl": set()}.get(
        scenario, {"triton"}
    )
    assert rendered.names() == set(DEPLOYABLES) | llm
    for name in set(DEPLOYABLES) | llm:
        full = f"{RELEASE}-ragplane-{name}"
        rendered.get("ServiceAccount", full)
        rendered.get("PodDisruptionBudget", full)
        rendered.get("NetworkPolicy", full)
        rendered.get("ConfigMap", full)
    for name in DEPLOYABLES:
        rendered.get("Service", f"{RELEASE}-ragplane-{name}")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pdbs_and_network_policies_select_exactly_one_workloads_pods(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for kind, path in (
        ("PodDisruptionBudget", ("selector", "matchLabels")),
        ("NetworkPolicy", ("podSelector", "matchLabels")),
    ):
        selected = []
        for obj in rendered.of_kind(kind):
            labels = obj["spec"][path[0]][path[1]]
            matching = [w for w in workloads_of(rendered) if labels.items() <= chartlib.pod_labels(w).items()]
            if obj["metadata"]["name"].endswith("kafka-topics"):
                continue
            assert len(matching) == 1, f"{kind} {obj['metadata']['name']} selects {len(matching)} workloads"
            selected.append(matching[0]["metadata"]["name"])
        assert len(selected) == len(set(selected)) == len(workloads_of(rendered))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_services_expose_grpc_with_app_protocol_and_the_metrics_port(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for name in SERVICES:
        ports = {p["name"]: p for p in rendered.get("Service", f"{RELEASE}-ragplane-{name}")["spec"]["ports"]}
        assert ports["grpc"]["port"] == PORTS[name]
        assert ports["grpc"]["appProtocol"] == "grpc"
        assert ports["metrics"]["port"] == METRICS_PORTS[name]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_has_resources_probes_and_a_hardened_security_context(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    jobs = rendered.of_kind("Job")
    for workload in workloads_of(rendered) + jobs:
        spec = workload["spec"]["template"]["spec"] if workload["kind"] == "Job" else pod_spec(workload)
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] > 0 and pod_sc["runAsGroup"] > 0
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["runAsNonRoot"] is True, where
            resources = container["resources"]
            assert resources["requests"].get("cpu") and resources["requests"].get("memory"), where
            assert resources["limits"].get("memory"), where
        for container in spec["containers"]:
            if workload["kind"] == "Job":
                continue
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{workload['metadata']['name']} has no {probe}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_services_use_native_grpc_probes_on_their_port(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for name in SERVICES:
        [container] = pod_spec(rendered.workload(name))["containers"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": chartlib.probe_port(rendered, name)}


def test_model_loading_services_get_a_longer_startup_window(rendered_scenarios):
    rendered = rendered_scenarios["cpu-dev"]

    def window(name):
        probe = pod_spec(rendered.workload(name))["containers"][0]["startupProbe"]
        return probe["periodSeconds"] * probe["failureThreshold"]

    for loader in ("embed", "rerank", "guardrail", "eval", "modelserver"):
        assert window(loader) >= 300, loader
    assert window("orchestrator") < window("embed")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_images_are_versioned_never_latest(rendered_scenarios, scenario):
    for workload in workloads_of(rendered_scenarios[scenario]) + rendered_scenarios[scenario].of_kind("Job"):
        spec = workload["spec"]["template"]["spec"] if workload["kind"] == "Job" else pod_spec(workload)
        for container in spec.get("initContainers", []) + spec["containers"]:
            repo, _, tag = container["image"].rpartition(":")
            assert repo and tag and tag != "latest", container["image"]


def test_ragplane_images_default_to_the_charts_app_version(rendered_scenarios):
    chart = __import__("yaml").safe_load((chartlib.CHART / "Chart.yaml").read_text())
    rendered = rendered_scenarios["cpu-dev"]
    for name in SERVICES:
        image = pod_spec(rendered.workload(name))["containers"][0]["image"]
        assert image == f"ghcr.io/ragplane/{name}:{chart['appVersion']}"


def test_latest_is_refused_with_a_message_naming_the_workload(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], ["embed.image.tag=latest"], check=False)
    assert done.returncode != 0
    assert "embed: the image tag must be a version, not latest" in done.stderr


def test_a_digest_pins_the_image(render):
    digest = "sha256:" + "a" * 64
    rendered = render("cpu-dev", f"retrieve.image.digest={digest}", "retrieve.image.tag=1.2.3")
    image = pod_spec(rendered.workload("retrieve"))["containers"][0]["image"]
    assert image == f"ghcr.io/ragplane/retrieve:1.2.3@{digest}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_services_listen_on_all_interfaces_and_know_their_callees(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    callees = {caller: {c for c, callers in chartlib.CALLERS.items() if caller in callers} for caller in SERVICES}
    for name in SERVICES:
        config = config_of(rendered, name)
        assert config["RAGPLANE_GRPC_LISTEN"] == f"0.0.0.0:{PORTS[name]}"
        assert config["RAGPLANE_METRICS_LISTEN"] == f"0.0.0.0:{METRICS_PORTS[name]}"
        addresses = {
            k.removeprefix("RAGPLANE_").removesuffix("_ADDR").lower(): v
            for k, v in config.items()
            if k.endswith("_ADDR") and k != "RAGPLANE_MODEL_ADDR"
        }
        assert set(addresses) == callees[name], name
        for callee, address in addresses.items():
            port = chartlib.call_port(rendered, callee)
            assert address == f"dns:///{RELEASE}-ragplane-{callee}-headless.{chartlib.NAMESPACE}.svc:{port}"


def test_generate_reaches_the_selected_llm_server(rendered_scenarios):
    expected = {
        "cpu-dev": f"dns:///{RELEASE}-ragplane-modelserver-headless.ragplane.svc:50070",
        "gpu-tp2": f"dns:///{RELEASE}-ragplane-triton-headless.ragplane.svc:8001",
        "kserve-llm": f"dns:///{RELEASE}-ragplane-triton-headless.ragplane.svc:8001",
        "external-kafka-sasl": "llm.example.net:8001",
    }
    for scenario, address in expected.items():
        config = config_of(rendered_scenarios[scenario], "generate")
        assert config["RAGPLANE_MODEL_ADDR"] == address, scenario
        assert config["RAGPLANE_LLM_MODEL_NAME"] == "ensemble"


def test_generate_and_the_model_server_agree_on_the_model_and_the_budget_profile(rendered_scenarios):
    cpu = rendered_scenarios["cpu-dev"]
    generate = config_of(cpu, "generate")
    assert generate["RAGPLANE_LLM_MODEL"] == config_of(cpu, "modelserver")["RAGPLANE_LLM_MODEL"] == "smollm2-135m"
    assert config_of(cpu, "modelserver")["RAGPLANE_LLM_MODEL_NAME"] == generate["RAGPLANE_LLM_MODEL_NAME"]
    assert generate["RAGPLANE_GENERATE_PROFILE"] == "cpu"
    gpu = config_of(rendered_scenarios["gpu-tp2"], "generate")
    assert (gpu["RAGPLANE_GENERATE_PROFILE"], gpu["RAGPLANE_LLM_MODEL"]) == ("gpu", "llama-3.1-8b-instruct")
    assert gpu["RAGPLANE_GENERATE_CHAT_TEMPLATE"] == "llama3"
    assert "RAGPLANE_LLM_MODEL" not in config_of(rendered_scenarios["external-kafka-sasl"], "generate")


def test_termination_grace_outlasts_the_services_own_drain(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp2"]
    for name in SERVICES:
        drain = float(config_of(rendered, name)["RAGPLANE_GRACE_PERIOD_S"])
        assert pod_spec(rendered.workload(name))["terminationGracePeriodSeconds"] > drain


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_secrets_are_passed_by_reference_only(rendered_scenarios, scenario):
    rendered = rendered_scenarios[scenario]
    for config in rendered.of_kind("ConfigMap"):
        for key in config.get("data", {}):
            assert not any(word in key for word in ("PASSWORD", "TOKEN", "API_KEY")), f"{key} in a ConfigMap"
    for workload in workloads_of(rendered):
        for container in all_containers(workload):
            for entry in container.get("env", []):
                if entry["name"] in (
                    "RAGPLANE_SERVICE_TOKEN",
                    "RAGPLANE_KAFKA_SASL_PASSWORD",
                    "RAGPLANE_QDRANT_API_KEY",
                    "RAGPLANE_REDIS_PASSWORD",
                ):
                    assert "secretKeyRef" in entry["valueFrom"], entry
                if entry["name"] == "RAGPLANE_API_KEYS":
                    # A Secret, its mounted file, or empty (internal services take no client keys).
                    value = entry.get("value")
                    assert "valueFrom" in entry or value == "" or value.startswith("/etc/ragplane/"), entry


def test_api_keys_are_mounted_as_a_file_for_client_facing_services_only(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp2"]
    for name in SERVICES:
        container = pod_spec(rendered.workload(name))["containers"][0]
        env = env_of(container)
        if name in chartlib.CLIENT_FACING:
            assert env["RAGPLANE_API_KEYS"] == "/etc/ragplane/api-keys/api-keys"
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            assert mounts["api-keys"]["readOnly"] is True
        else:
            assert env["RAGPLANE_API_KEYS"] == ""
        assert env["RAGPLANE_SERVICE_TOKEN"] == {"secretKeyRef": {"name": "ragplane-service-token", "key": "token"}}


def test_redis_password_reaches_the_url_through_the_environment(rendered_scenarios):
    rendered = rendered_scenarios["external-kafka-sasl"]
    env = env_of(pod_spec(rendered.workload("orchestrator"))["containers"][0])
    assert env["RAGPLANE_REDIS_URL"] == "rediss://:$(RAGPLANE_REDIS_PASSWORD)@redis.example.net:6380/0"
    names = [e["name"] for e in pod_spec(rendered.workload("orchestrator"))["containers"][0]["env"]]
    assert names.index("RAGPLANE_REDIS_PASSWORD") < names.index("RAGPLANE_REDIS_URL")


def test_only_retrieve_gets_qdrant_and_only_its_users_get_redis(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp2"]
    for name in SERVICES:
        env = env_of(pod_spec(rendered.workload(name))["containers"][0], config_of(rendered, name))
        assert ("RAGPLANE_QDRANT_URL" in env) == (name == "retrieve"), name
        assert ("RAGPLANE_REDIS_URL" in env) == (name == "orchestrator"), name
        assert ("RAGPLANE_STATE_REDIS_URL" in env) == (name == "ingest"), name
        assert ("RAGPLANE_KAFKA_BOOTSTRAP" in env) == (
            name in ("orchestrator", "ingest", "embed", "retrieve", "eval")
        ), name


def test_extra_env_goes_to_the_config_map_or_to_the_container(render):
    rendered = render(
        "cpu-dev",
        "orchestrator.env.RAGPLANE_TOP_K=40",
        "orchestrator.env.RAGPLANE_USER_HASH_SALT.valueFrom.secretKeyRef.name=salt",
        "orchestrator.env.RAGPLANE_USER_HASH_SALT.valueFrom.secretKeyRef.key=v",
    )
    assert config_of(rendered, "orchestrator")["RAGPLANE_TOP_K"] == "40"
    env = env_of(pod_spec(rendered.workload("orchestrator"))["containers"][0])
    assert env["RAGPLANE_USER_HASH_SALT"] == {"secretKeyRef": {"name": "salt", "key": "v"}}


def test_a_disabled_service_disappears_with_its_address_and_policies(render):
    rendered = render("cpu-dev", "eval.enabled=false")
    assert "eval" not in rendered.names()
    assert not [o for o in rendered.objects if o["metadata"]["name"].endswith("-eval")]
    for policy in rendered.of_kind("NetworkPolicy"):
        assert "eval" not in str(policy["spec"]), policy["metadata"]["name"]


def test_models_can_be_mounted_from_a_volume(render):
    rendered = render(
        "cpu-dev", "rerank.models.source=volume", "rerank.models.volume.persistentVolumeClaim.claimName=rerankers"
    )
    spec = pod_spec(rendered.workload("rerank"))
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "rerankers"}
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["models"] == {"name": "models", "mountPath": "/models", "readOnly": True}
    assert config_of(rendered, "rerank")["RAGPLANE_MODELS_DIR"] == "/models"


def test_a_volume_source_without_a_volume_is_refused(helm):
    done = chartlib.template(helm, [chartlib.scenario_file("cpu-dev")], ["rerank.models.source=volume"], check=False)
    assert "rerank.models.volume must be set" in done.stderr


def test_hpa_takes_over_the_replica_count(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp4-pp2"]
    hpa = rendered.get("HorizontalPodAutoscaler", f"{RELEASE}-ragplane-orchestrator")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-ragplane-orchestrator"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert "replicas" not in rendered.workload("orchestrator")["spec"]
    assert rendered.workload("generate")["spec"]["replicas"] == 3


def test_config_changes_roll_the_pods(render):
    before = render("cpu-dev").workload("ingest")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    after = render("cpu-dev", "global.logLevel=WARNING").workload("ingest")
    assert after["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != before
