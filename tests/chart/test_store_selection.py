"""Retrieve uses the Qdrant server whenever the chart is given one: never the embedded store under ./data, which
fails on the pods' read-only root filesystem (and would give each replica a private, partial index).
"""

from __future__ import annotations

import importlib.metadata
import re

import pytest
import yaml
from chart.chartlib import RELEASE, ROOT, SCENARIOS, scenario_file, template
from chart.podenv import pod_environment
from chart.test_production_auth import SECRETS

from ragplane.runtime.settings import load_settings
from ragplane_retrieve.app import build_store
from ragplane_retrieve.config import Settings as RetrieveSettings
from ragplane_retrieve.store.qdrant_collections import MIN_SERVER_VERSION, Replication
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.chart


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_retrieve_is_told_to_use_the_qdrant_server_it_is_given(rendered_scenarios, scenario):
    url = yaml.safe_load(scenario_file(scenario).read_text())["qdrant"]["url"]
    config = rendered_scenarios[scenario].get("ConfigMap", f"{RELEASE}-ragplane-retrieve")["data"]
    assert (config["RAGPLANE_QDRANT_URL"], config.get("RAGPLANE_RETRIEVE_STORE")) == (url, "qdrant")


def test_retrieve_builds_the_server_store_from_its_rendered_environment(rendered_scenarios, tmp_path, monkeypatch):
    environ = pod_environment(rendered_scenarios["external-kafka-sasl"], "retrieve", SECRETS)
    # The pod's working directory is / on a read-only root: nothing may be created relative to it.
    monkeypatch.chdir(tmp_path)
    store = build_store(load_settings(RetrieveSettings, environ))
    assert isinstance(store, QdrantServerStore), type(store).__name__
    assert (store.url, store.api_key) == ("https://qdrant.example.net:6333", SECRETS[("ragplane-qdrant", "api-key")])
    assert list(tmp_path.iterdir()) == []


def test_retrieve_creates_its_collections_with_the_values_replication(render, tmp_path, monkeypatch):
    rendered = render(
        "external-kafka-sasl",
        "qdrant.collection.name=rp2_chunks",
        "qdrant.collection.shards=6",
        "qdrant.collection.replicationFactor=3",
        "qdrant.collection.writeConsistency=2",
        "qdrant.collection.onDiskPayload=false",
        "qdrant.collection.writeOrdering=strong",
    )
    monkeypatch.chdir(tmp_path)
    store = build_store(load_settings(RetrieveSettings, pod_environment(rendered, "retrieve", SECRETS)))
    assert isinstance(store, QdrantServerStore)
    assert store.collection == "rp2_chunks"
    assert store.replication == Replication(6, 3, 2, False, "strong")


def test_the_default_values_replicate_each_shard_twice(rendered_scenarios, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    environ = pod_environment(rendered_scenarios["external-kafka-sasl"], "retrieve", SECRETS)
    store = build_store(load_settings(RetrieveSettings, environ))
    assert store.collection == "ragplane_chunks"
    assert store.replication == Replication(shards=0, replication_factor=2, write_consistency=1)
    assert (store.replication.on_disk_payload, store.replication.write_ordering) == (True, "medium")


def test_a_write_consistency_above_the_replication_factor_fails_the_render_naming_both(helm):
    done = template(
        helm,
        [scenario_file("external-kafka-sasl")],
        ["qdrant.collection.replicationFactor=2", "qdrant.collection.writeConsistency=3"],
        check=False,
    )
    assert done.returncode != 0
    assert "qdrant.collection.writeConsistency (3) must be at most qdrant.collection.replicationFactor (2)" in (
        done.stderr
    )


def _major_minor(version: str) -> tuple[int, int]:
    major, minor, *_ = version.removeprefix("v").split("-")[0].split(".")
    return int(major), int(minor)


def test_infra_runs_the_qdrant_version_of_the_client_and_at_least_what_the_store_needs():
    lock = (ROOT / "requirements.lock").read_text()
    [client] = re.findall(r"^qdrant-client==(\S+)$", lock, flags=re.M)
    production = yaml.safe_load((ROOT / "infra" / "qdrant" / "values.yaml").read_text())["image"]["tag"]
    dev = [
        c["image"].rsplit(":", 1)[1]
        for doc in yaml.safe_load_all((ROOT / "infra" / "dev" / "qdrant.yaml").read_text())
        if doc and doc["kind"] == "StatefulSet"
        for c in doc["spec"]["template"]["spec"]["containers"]
    ]
    assert dev == [f"{production}-unprivileged"], (dev, production)
    assert _major_minor(production) == _major_minor(client), (production, client)
    assert _major_minor(production) >= MIN_SERVER_VERSION[:2], production
    assert importlib.metadata.version("qdrant-client") == client
