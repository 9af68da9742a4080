"""The operator's part of the chart, rendered with the real helm: CRD, Deployment, ServiceAccount, least-privilege
RBAC, metrics Service, NetworkPolicy and the example RagAutoscalers.

helm comes from scripts/install-helm.sh (.tools/bin/helm); without it these tests skip and say so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ragplane_autoscaler.settings import Settings
from ragplane_autoscaler.sources import check_sources
from ragplane_autoscaler.spec import GROUP, KIND, PLURAL, VERSION, parse_spec

pytestmark = pytest.mark.chart

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "ragplane"
CRD_PATH = CHART / "crds" / "ragautoscalers.ragplane.io.yaml"
HELM = ROOT / ".tools" / "bin" / "helm"
SCENARIOS = CHART / "ci"
NS = "ragplane"
LLM_EXAMPLES = [
    "autoscaler.enabled=true",
    "autoscaler.examples.enabled=true",
    "autoscaler.examples.llm.prometheusURL=http://prometheus-operated.monitoring.svc:9090",
    "autoscaler.examples.llm.gpuPool=llm-l40s",
    "autoscaler.gpuPools.llm-l40s=8",
    "autoscaler.gpuPools.encoders-l4=4",
]
EXPECTED_RULES = [
    {"apiGroups": ["ragplane.io"], "resources": ["ragautoscalers"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": ["ragplane.io"], "resources": ["ragautoscalers/status"], "verbs": ["get", "patch"]},
    {"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"], "verbs": ["get", "update"]},
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": ["get", "patch"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["get", "list"]},
]
EVENTS_RULE = {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}


@pytest.fixture(scope="module")
def helm() -> Path:
    if not HELM.exists():
        pytest.skip(f"helm is not installed at {HELM.relative_to(ROOT)} (run scripts/install-helm.sh)")
    return HELM


def render(helm: Path, scenario: str, *sets: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [
        str(helm),
        "template",
        "rp",
        str(CHART),
        "--namespace",
        NS,
        "--include-crds",
        "--values",
        str(SCENARIOS / f"{scenario}-values.yaml"),
    ]
    for s in sets:
        cmd += ["--set", s]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def objects(helm: Path, scenario: str, *sets: str) -> list[dict]:
    return [o for o in yaml.safe_load_all(render(helm, scenario, *sets).stdout) if o]


def mine(objs: list[dict]) -> list[dict]:
    """The operator's templated objects (the CRD in crds/ always ships, so it is not among them)."""
    return [
        o
        for o in objs
        if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "autoscaler"
        and o["kind"] != "CustomResourceDefinition"
    ]


def one(objs: list[dict], kind: str) -> dict:
    (obj,) = [o for o in objs if o["kind"] == kind]
    return obj


def test_the_crd_ships_with_the_chart_as_a_valid_apiextensions_v1_crd(helm, tmp_path):
    rendered = objects(helm, "cpu-dev")
    (crd,) = [
        o for o in rendered if o["kind"] == "CustomResourceDefinition" and o["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    ]
    assert crd == yaml.safe_load(CRD_PATH.read_text())
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"]["status"] == {}
    assert _structural(version["schema"]["openAPIV3Schema"]) == []
    path = tmp_path / "crd.yaml"
    path.write_text(CRD_PATH.read_text())
    assert _kubernetes_validate([path]) == ""


def test_nothing_of_the_operator_renders_unless_enabled(helm):
    assert mine(objects(helm, "cpu-dev")) == []


def test_operator_deployment_is_hardened_single_and_probed_on_kopfs_health_endpoint(helm):
    deploy = one(mine(objects(helm, "kserve-llm", *LLM_EXAMPLES)), "Deployment")
    spec = deploy["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    health = next(p["containerPort"] for p in c["ports"] if p["name"] == "health")
    assert env["RAGPLANE_AUTOSCALER_LIVENESS_ENDPOINT"] == f"http://0.0.0.0:{health}/healthz"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert env["RAGPLANE_AUTOSCALER_GPU_POOLS"] == "encoders-l4=4,llm-l40s=8"
    assert env["RAGPLANE_AUTOSCALER_NAMESPACES"] == NS
    assert c["image"].endswith("/autoscaler:0.1.0")
    assert pod["serviceAccountName"] == deploy["metadata"]["name"]


def test_rbac_is_least_privilege_in_the_watched_namespaces(helm):
    objs = mine(objects(helm, "kserve-llm", *LLM_EXAMPLES, "autoscaler.namespaces={rag-batch}"))
    roles = [o for o in objs if o["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == sorted([NS, "rag-batch"])
    for role in roles:
        assert role["rules"] == EXPECTED_RULES + [EVENTS_RULE]
    bindings = [o for o in objs if o["kind"] == "RoleBinding"]
    sa = one(objs, "ServiceAccount")
    assert all(
        b["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": NS}] for b in bindings
    )
    assert not [o for o in objs if o["kind"].startswith("Cluster")]
    env = {
        e["name"]: e.get("value") for e in one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RAGPLANE_AUTOSCALER_NAMESPACES"] == f"{NS},rag-batch"


def test_cluster_wide_mode_binds_a_cluster_role_and_events_rbac_follows_posting(helm):
    objs = mine(
        objects(
            helm, "cpu-dev", "autoscaler.enabled=true", "autoscaler.clusterWide=true", "autoscaler.postEvents=false"
        )
    )
    role = one(objs, "ClusterRole")
    assert role["rules"] == EXPECTED_RULES  # no events: it posts none
    binding = one(objs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    env = {
        e["name"]: e.get("value") for e in one(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RAGPLANE_AUTOSCALER_NAMESPACES"] == "" and env["RAGPLANE_AUTOSCALER_POST_EVENTS"] == "false"


def test_metrics_service_service_monitor_and_network_policy(helm):
    objs = mine(objects(helm, "kserve-llm", *LLM_EXAMPLES))
    svc = one(objs, "Service")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9180, "targetPort": "metrics", "protocol": "TCP"}]
    assert one(objs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"
    policy = one(objs, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443, 6443, 9092, 9090, 8002} <= egress_ports
    # Only the monitoring namespace's Prometheus may scrape it (global.networkPolicy.prometheus.from).
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 9180, "protocol": "TCP"}], "from": [prometheus]}]


def test_the_operators_objects_pass_strict_kubernetes_validation(helm, tmp_path):
    objs = [
        o
        for o in mine(objects(helm, "kserve-llm", *LLM_EXAMPLES, "autoscaler.namespaces={rag-batch}"))
        if o["apiVersion"].split("/")[0] not in (GROUP, "monitoring.coreos.com")
    ]
    assert {o["kind"] for o in objs} >= {
        "Deployment",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Service",
        "NetworkPolicy",
    }
    paths = []
    for i, obj in enumerate(objs):
        path = tmp_path / f"{i}-{obj['kind']}.yaml"
        path.write_text(yaml.safe_dump(obj))
        paths.append(path)
    assert _kubernetes_validate(paths) == ""


def test_examples_for_embed_index_writer_and_a_tp2_llm_validate_and_parse(helm):
    jsonschema = pytest.importorskip("jsonschema")
    crd = yaml.safe_load(CRD_PATH.read_text())
    validator = jsonschema.Draft4Validator(_closed(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]))
    examples = {o["metadata"]["name"]: o for o in objects(helm, "kserve-llm", *LLM_EXAMPLES) if o["kind"] == KIND}
    assert set(examples) == {"rp-ragplane-embed", "rp-ragplane-index-writer", "rp-ragplane-llm"}
    for name, obj in examples.items():
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]
        assert not errors, f"{name}: {errors}"
        assert obj["apiVersion"] == f"{GROUP}/{VERSION}"
    embed = parse_spec(examples["rp-ragplane-embed"]["spec"])
    assert embed.target.name == "rp-ragplane-embed" and embed.signals[0].source.topic == "ragplane.chunks.v1"
    writer = parse_spec(examples["rp-ragplane-index-writer"]["spec"])
    assert writer.target.name == "rp-ragplane-retrieve"
    assert writer.signals[0].source.consumer_group == "ragplane-index-writer"
    llm = parse_spec(examples["rp-ragplane-llm"]["spec"])
    assert (llm.target.kind, llm.target.name) == ("InferenceService", "rp-ragplane-triton")
    assert llm.gpu is not None and (llm.gpu.pool, llm.gpu.tensor_parallel, llm.gpu.gpus_per_replica) == (
        "llm-l40s",
        2,
        2,
    )
    assert {s.type for s in llm.signals} == {"prometheus"}
    assert "nv_inference_pending_request_count" in llm.signals[0].source.query


def test_examples_target_the_triton_deployment_without_kserve(helm):
    examples = [o for o in objects(helm, "gpu-tp2", *LLM_EXAMPLES) if o["kind"] == KIND]
    llm = next(o for o in examples if o["metadata"]["name"] == "rp-ragplane-llm")
    assert llm["spec"]["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rp-ragplane-triton"}


def test_the_operator_as_rendered_allows_the_example_sources_and_nothing_else(helm):
    objs = objects(helm, "kserve-llm", *LLM_EXAMPLES, "autoscaler.signalHosts={triton.rag.svc:8002}")
    (c,) = one(mine(objs), "Deployment")["spec"]["template"]["spec"]["containers"]
    settings = Settings.from_env({e["name"]: e["value"] for e in c["env"] if "value" in e})
    assert settings.signal_hosts == ("triton.rag.svc:8002", "prometheus-operated.monitoring.svc:9090")
    assert settings.kafka_bootstrap_servers
    for example in (o for o in objs if o["kind"] == KIND):
        check_sources(parse_spec(example["spec"]), settings)  # raises SpecError on a refused source


def test_kafka_sasl_credentials_reach_the_operator_by_secret_reference(helm):
    deploy = one(mine(objects(helm, "external-kafka-sasl", "autoscaler.enabled=true")), "Deployment")
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["RAGPLANE_AUTOSCALER_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
    assert env["RAGPLANE_AUTOSCALER_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "ragplane-kafka-user",
        "key": "password",
    }
    assert env["RAGPLANE_AUTOSCALER_KAFKA_SSL_CAFILE"]["value"] == "/etc/ragplane/kafka-ca/ca.crt"
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/tmp", "/etc/ragplane/kafka-ca"}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["embed.hpa.enabled=true"], "embed.hpa.enabled must be false"),
        (["autoscaler.examples.llm.gpuPool=nowhere"], 'gpuPool "nowhere" is not in autoscaler.gpuPools'),
        (["autoscaler.gpuPools.llm-l40s=eight"], "autoscaler.gpuPools.llm-l40s must be a whole number"),
        (["autoscaler.postEvents=sometimes"], "autoscaler.postEvents must be auto, true or false"),
    ],
)
def test_bad_values_fail_the_render_with_a_message(helm, sets, message):
    done = render(helm, "kserve-llm", *LLM_EXAMPLES, *sets, check=False)
    assert done.returncode != 0 and message in done.stderr, done.stderr


def _closed(schema):
    """Unknown fields are errors (the API server prunes them silently; an example must not rely on that)."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("properties", {}).get("metadata") == {"type": "object"}:
        out["properties"]["metadata"] = {"type": "object"}
    return out


def _structural(schema: dict, path: str = "") -> list[str]:
    """Where a schema is not structural (every node has a type, unless it preserves unknown fields)."""
    problems = []
    if "type" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        problems.append(path or "<root>")
    for name, sub in (schema.get("properties") or {}).items():
        problems += _structural(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        problems += _structural(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        problems += _structural(schema["additionalProperties"], f"{path}{{}}")
    return problems


def _kubernetes_validate(paths: list[Path]) -> str:
    exe = Path(sys.executable).with_name("kubernetes-validate")
    if not exe.exists():
        pytest.skip("kubernetes-validate is not installed in the venv")
    done = subprocess.run(
        [str(exe), "--strict", "--quiet", "-k", "1.31.0", *map(str, paths)], capture_output=True, text=True, timeout=300
    )
    return (done.stdout + done.stderr).strip()


def test_workloads_the_example_autoscalers_scale_leave_replicas_to_the_operator(helm):
    def deployments(*sets):
        return {o["metadata"]["name"]: o for o in objects(helm, "gpu-tp2", *sets) if o["kind"] == "Deployment"}

    managed = deployments(*LLM_EXAMPLES, "autoscaler.examples.embed.gpuPool=")
    assert "replicas" not in managed["rp-ragplane-embed"]["spec"]
    assert "replicas" not in managed["rp-ragplane-retrieve"]["spec"]
    assert "replicas" not in managed["rp-ragplane-triton"]["spec"]
    assert "replicas" in managed["rp-ragplane-orchestrator"]["spec"]
    unmanaged = deployments()
    assert (
        "replicas" in unmanaged["rp-ragplane-embed"]["spec"] and "replicas" in unmanaged["rp-ragplane-triton"]["spec"]
    )
