"""Encoders on the v2 inference server: each encoder service loads its settings from exactly what the chart renders
for it and points its Triton backend at the server's headless address."""

from __future__ import annotations

import pytest
from chart.chartlib import RELEASE
from chart.podenv import pod_environment
from chart.test_production_auth import SECRETS

from ragplane.runtime.settings import load_settings
from ragplane_embed.config import Settings as EmbedSettings
from ragplane_rerank.config import Settings as RerankSettings

pytestmark = pytest.mark.chart

TRITON = f"dns:///{RELEASE}-ragplane-triton-headless.ragplane.svc:8001"


@pytest.mark.parametrize(("workload", "settings_class"), [("embed", EmbedSettings), ("rerank", RerankSettings)])
def test_a_remote_encoder_reaches_the_inference_server_from_its_rendered_environment(render, workload, settings_class):
    rendered = render("gpu-tp2", f"{workload}.remoteModels=true", f"{workload}.gpu.count=0")
    settings = load_settings(settings_class, pod_environment(rendered, workload, SECRETS))
    assert (settings.backend, settings.triton_url) == ("triton", TRITON)
