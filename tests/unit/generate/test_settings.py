"""Settings of the generate service and the model server: profiles, overrides, thread defaults."""

from __future__ import annotations

import pytest

from ragplane.runtime.settings import SettingsError, load_settings
from ragplane_generate.config import PROFILES, Settings
from ragplane_generate.modelserver.config import ModelServerSettings

pytestmark = pytest.mark.unit


def test_cpu_profile_has_a_tighter_context_budget_than_gpu():
    assert PROFILES["cpu"].context_tokens < PROFILES["gpu"].context_tokens
    assert PROFILES["gpu"].context_tokens == 3000 and PROFILES["gpu"].answer_tokens == 512


def test_explicit_budgets_override_the_profile():
    settings = load_settings(
        Settings,
        {
            "RAGPLANE_GENERATE_PROFILE": "gpu",
            "RAGPLANE_GENERATE_CONTEXT_TOKENS": "1200",
            "RAGPLANE_GENERATE_HISTORY_TOKENS": "0",
        },
    )
    budget = settings.budget()
    assert (budget.context_tokens, budget.history_tokens, budget.answer_tokens) == (1200, 0, 512)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RAGPLANE_GENERATE_PROFILE", "tpu"),
        ("RAGPLANE_GENERATE_CHAT_TEMPLATE", "alpaca"),
        ("RAGPLANE_GENERATE_TOKENIZER", "bpe"),
        ("RAGPLANE_LLM_STREAMING", "maybe"),
        ("RAGPLANE_GENERATE_TOP_P", "0"),
        ("RAGPLANE_GENERATE_CONTEXT_TOKENS", "-5"),
    ],
)
def test_bad_values_name_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        load_settings(Settings, {variable: value})


def test_model_server_threads_default_leaves_a_core_and_explicit_threads_win():
    assert load_settings(ModelServerSettings, {}).threads_per_slot() >= 1
    assert load_settings(ModelServerSettings, {"RAGPLANE_LLM_THREADS": "3"}).threads_per_slot() == 3


def test_model_server_load_mode_is_validated():
    with pytest.raises(SettingsError, match="RAGPLANE_LLM_LOAD: must be one of startup, explicit"):
        load_settings(ModelServerSettings, {"RAGPLANE_LLM_LOAD": "lazy"})
