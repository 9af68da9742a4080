"""The chart keeps state apart from caches: ingest gets the state Redis (RAGPLANE_STATE_REDIS_URL), the
orchestrator the caches Redis (RAGPLANE_REDIS_URL); passwords come from Secrets; the state Redis is required."""

from __future__ import annotations

import pytest
from chart import chartlib
from chart.chartlib import RELEASE, SERVICES, env_of, pod_spec

pytestmark = pytest.mark.chart


def env_with_config(rendered, name: str) -> dict:
    config = rendered.get("ConfigMap", f"{RELEASE}-ragplane-{name}")["data"]
    return env_of(pod_spec(rendered.workload(name))["containers"][0], config)


def test_ingest_gets_the_state_redis_and_the_orchestrator_the_caches_redis(rendered_scenarios):
    rendered = rendered_scenarios["cpu-dev"]
    for name in SERVICES:
        env = env_with_config(rendered, name)
        assert ("RAGPLANE_STATE_REDIS_URL" in env) == (name == "ingest"), name
        assert ("RAGPLANE_REDIS_URL" in env) == (name == "orchestrator"), name
    assert env_with_config(rendered, "ingest")["RAGPLANE_STATE_REDIS_URL"] == (
        "redis://state-redis.ragplane-dev.svc:6379/0"
    )


def test_the_state_redis_password_comes_from_its_secret_into_the_url(rendered_scenarios):
    container = pod_spec(rendered_scenarios["external-kafka-sasl"].workload("ingest"))["containers"][0]
    env = env_of(container)
    assert env["RAGPLANE_STATE_REDIS_PASSWORD"] == {"secretKeyRef": {"name": "ragplane-state-redis", "key": "password"}}
    assert (
        env["RAGPLANE_STATE_REDIS_URL"] == "rediss://:$(RAGPLANE_STATE_REDIS_PASSWORD)@redis-state.example.net:6380/0"
    )
    names = [entry["name"] for entry in container["env"]]
    assert names.index("RAGPLANE_STATE_REDIS_PASSWORD") < names.index("RAGPLANE_STATE_REDIS_URL")


def test_ingest_may_reach_the_state_redis_and_not_the_caches_redis(rendered_scenarios):
    rendered = rendered_scenarios["external-kafka-sasl"]
    egress = rendered.get("NetworkPolicy", f"{RELEASE}-ragplane-ingest")["spec"]["egress"]
    on_6380 = [rule for rule in egress if {"port": 6380, "protocol": "TCP"} in rule["ports"]]
    assert [rule["to"] for rule in on_6380] == [[{"ipBlock": {"cidr": "192.0.2.0/24"}}]]


def test_rendering_without_the_state_redis_names_the_value_and_what_it_needs(helm):
    scenario = chartlib.scenario_file("cpu-dev")
    done = chartlib.template(helm, [scenario], ["stateRedis.url="], check=False)
    assert done.returncode != 0
    assert "stateRedis.url must be set" in done.stderr and "noeviction" in done.stderr, done.stderr
