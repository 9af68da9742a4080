"""Retrieve uses the Qdrant server whenever the chart is given one: never the embedded store under ./data, which
fails on the pods' read-only root filesystem (and would give each replica a private, partial index).
"""

from __future__ import annotations

import pytest
import yaml
from chart.chartlib import RELEASE, SCENARIOS, scenario_file
from chart.podenv import pod_environment
from chart.test_production_auth import SECRETS

from ragplane.runtime.settings import load_settings
from ragplane_retrieve.app import build_store
from ragplane_retrieve.config import Settings as RetrieveSettings
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
