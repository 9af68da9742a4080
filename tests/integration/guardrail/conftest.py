"""One guardrail service per test session with the real models: two API keys, two tenants, two policies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragplane.runtime.settings import load_settings
from ragplane_guardrail.app import GuardrailApp
from ragplane_guardrail.config import Settings

POLICY = """
policies:
  strict:
    blocklist:
      terms: ["Project Falcon"]
    input:
      categories:
        pii.*: {action: block, threshold: 0.5}
    document:
      categories:
        prompt_injection: {action: mark, threshold: 0.7}
tenants:
  tenant-b: strict
"""

TENANT_A = [("authorization", "Bearer key-a")]
TENANT_B = [("authorization", "Bearer key-b")]


@pytest.fixture(scope="session")
def guardrail_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    policy = Path(tmp_path_factory.mktemp("guardrail")) / "policy.yaml"
    policy.write_text(POLICY)
    return load_settings(
        Settings,
        {"RAGPLANE_GUARDRAIL_POLICY_FILE": str(policy), "RAGPLANE_API_KEYS": "key-a=tenant-a,key-b=tenant-b"},
        allow_dev_key=True,
    )


@pytest.fixture(scope="session")
def loaded_app(guardrail_settings: Settings) -> Iterator[GuardrailApp]:
    """The app with every model loaded once (start() then only builds the engine)."""
    app = GuardrailApp(guardrail_settings)
    app.load_models()
    yield app
