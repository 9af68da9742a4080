"""docs/configuration.md lists exactly the settings the services read (regenerate with scripts/gen_config_docs.py)."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_configuration_reference_is_up_to_date():
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "configuration.md").read_text() == module.render(), (
        "docs/configuration.md is stale: run python scripts/gen_config_docs.py"
    )
