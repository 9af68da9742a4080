"""Rerank settings: backends that need a location say so at start."""

from __future__ import annotations

import pytest

from ragplane.runtime.settings import SettingsError, load_settings
from ragplane_rerank.config import Settings

pytestmark = pytest.mark.unit


def test_unknown_backend_is_named():
    with pytest.raises(SettingsError, match="RAGPLANE_RERANK_BACKEND: must be one of"):
        load_settings(Settings, {"RAGPLANE_RERANK_BACKEND": "bm42"})


def test_cross_encoder_needs_a_model_path():
    with pytest.raises(SettingsError, match="RAGPLANE_RERANK_MODEL_PATH: required"):
        load_settings(Settings, {"RAGPLANE_RERANK_BACKEND": "cross-encoder"})


def test_triton_needs_an_address():
    with pytest.raises(SettingsError, match="RAGPLANE_RERANK_TRITON_URL: required"):
        load_settings(Settings, {"RAGPLANE_RERANK_BACKEND": "triton"})


def test_defaults_keep_five_of_at_most_two_hundred():
    settings = load_settings(Settings, {})
    assert (settings.default_top_n, settings.max_candidates) == (5, 200)
