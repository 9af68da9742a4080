"""Policy YAML: defaults, tenant mapping, inheritance, category resolution and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragplane.runtime.settings import SettingsError, load_settings
from ragplane_guardrail.config import Settings, validate_policy_file
from ragplane_guardrail.policy import PolicyError, load_policies
from ragplane_guardrail.verdict import Action, Check

pytestmark = pytest.mark.unit


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_builtin_default_blocks_injection_and_redacts_pii_in_questions():
    policy = load_policies().for_tenant("anyone")
    assert policy.name == "default"
    assert policy.input.rule_for("prompt_injection").action == Action.BLOCK
    assert policy.input.rule_for("pii.email").action == Action.REDACT
    assert policy.document.rule_for("prompt_injection").action == Action.BLOCK


def test_exact_rule_beats_wildcard_and_unknown_categories_are_allowed():
    rules = load_policies().for_tenant("x").input
    assert rules.rule_for("pii.iban").action == Action.REDACT  # from "pii.*"
    assert rules.rule_for("pii.location").action == Action.ALLOW  # exact rule
    assert rules.rule_for("ungrounded").action == Action.ALLOW  # no rule in input


def test_tenant_policy_extends_default_and_overrides_only_what_it_names(tmp_path: Path):
    path = _write(
        tmp_path,
        """
policies:
  strict:
    blocklist: {terms: [falcon]}
    document:
      categories:
        prompt_injection: {action: mark, threshold: 0.6}
tenants:
  tenant-b: strict
""",
    )
    policies = load_policies(path)
    strict = policies.for_tenant("tenant-b")
    assert strict.name == "strict" and strict.blocklist_terms == ("falcon",)
    assert strict.document.rule_for("prompt_injection").action == Action.MARK
    assert strict.document.rule_for("prompt_injection").threshold == 0.6
    assert strict.input.rule_for("prompt_injection").action == Action.BLOCK  # inherited
    assert policies.for_tenant("tenant-a").name == "default"


def test_detector_thresholds_override_the_category_threshold():
    rule = load_policies().for_tenant("x").input.rule_for("prompt_injection")
    assert rule.threshold_for("rules") == rule.threshold
    assert rule.threshold_for("classifier.embedding") > rule.threshold


def test_allows_all_tells_when_a_detector_can_be_skipped():
    rules = load_policies().for_tenant("x").check(Check.DOCUMENT)
    assert rules.allows_all(frozenset({"pii.person", "pii.location"}))
    assert not rules.allows_all(frozenset({"pii.person", "pii.email"}))


@pytest.mark.parametrize(
    "yaml_text, key",
    [
        (
            "policies: {default: {input: {categories: {pii.email: {action: deny}}}}}",
            "policies.default.input.categories.pii.email.action: must be one of allow, mark, redact, block, but got 'deny'",
        ),
        (
            "policies: {default: {input: {categories: {prompt_injection: {action: block, threshold: 1.5}}}}}",
            "policies.default.input.categories.prompt_injection.threshold: must be a number between 0 and 1, but got 1.5",
        ),
        (
            "policies: {default: {input: {categories: {pii.emial: block}}}}",
            "policies.default.input.categories.pii.emial: unknown category",
        ),
        (
            "policies: {default: {input: {max_chars: 0}}}",
            "policies.default.input.max_chars: must be an integer > 0, but got 0",
        ),
        ("policies: {default: {inptu: {}}}", "policies.default.inptu: unknown key"),
        ("tenants: {acme: nonexistent}", "tenants.acme: names policy 'nonexistent', which is not defined"),
        ("policies: {a: {extends: b}, b: {extends: a}}", "extends: circular"),
        (
            "policies: {default: {blocklist: {patterns: ['(unclosed']}}}",
            "policies.default.blocklist.patterns[0]: not a valid regular expression",
        ),
        (
            "policies: {default: {input: {categories: {prompt_injection: {action: block, detectors: {bert: 0.5}}}}}}",
            "policies.default.input.categories.prompt_injection.detectors.bert: unknown detector",
        ),
        ("version: 2", "version: must be 1, but got 2"),
    ],
)
def test_invalid_policy_names_the_file_and_the_key(tmp_path: Path, yaml_text: str, key: str):
    path = _write(tmp_path, yaml_text)
    with pytest.raises(PolicyError) as excinfo:
        load_policies(path)
    assert str(path) in str(excinfo.value)
    assert key in str(excinfo.value)


def test_not_yaml_is_reported(tmp_path: Path):
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policies(_write(tmp_path, "policies: [unclosed"))


def test_settings_reject_a_missing_policy_file():
    with pytest.raises(SettingsError, match="RAGPLANE_GUARDRAIL_POLICY_FILE: no such file"):
        load_settings(Settings, {"RAGPLANE_GUARDRAIL_POLICY_FILE": "/nonexistent/policy.yaml"})


def test_settings_validation_names_the_variable_and_the_yaml_key(tmp_path: Path):
    path = _write(tmp_path, "policies: {default: {output: {categories: {toxicity.*: nope}}}}")
    settings = load_settings(Settings, {"RAGPLANE_GUARDRAIL_POLICY_FILE": str(path)})
    with pytest.raises(SettingsError) as excinfo:
        validate_policy_file(settings)
    assert str(excinfo.value).startswith("RAGPLANE_GUARDRAIL_POLICY_FILE:")
    assert "policies.default.output.categories.toxicity.*.action" in str(excinfo.value)
