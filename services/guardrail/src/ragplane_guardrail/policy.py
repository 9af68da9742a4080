"""Per-tenant guardrail policies from YAML: per check and category, an action and a score threshold.

Structure (see default_policy.yaml and the README for the full reference)::

    version: 1
    default_policy: default          # policy of tenants not listed under "tenants"
    policies:
      <name>:
        extends: default             # optional; every policy but "default" extends "default" by default
        blocklist: {terms: [...], patterns: [...]}
        input | output | document:
          max_chars: 8000
          categories:
            <category or prefix.*>: {action: allow|mark|redact|block, threshold: 0.7,
                                     detectors: {<detector>: <threshold>}}
    tenants:
      <tenant>: <policy name>

A category rule is found by exact name, then by the longest matching "prefix.*", then "*"; a category
with no rule is allowed. A finding triggers its rule's action when its score reaches the threshold
(``detectors`` overrides the threshold for findings of one detector, whose scores may be calibrated
differently).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ragplane_guardrail.detectors.blocklist import MAX_PATTERNS, PatternError, compile_pattern
from ragplane_guardrail.verdict import Action, Check

KNOWN_CATEGORIES = frozenset(
    {
        "prompt_injection",
        "jailbreak",
        "pii.email",
        "pii.phone",
        "pii.credit_card",
        "pii.iban",
        "pii.ssn",
        "pii.ip_address",
        "pii.person",
        "pii.location",
        "pii.nrp",
        "secret",
        "blocklist",
        "toxicity.profanity",
        "toxicity.insult",
        "toxicity.threat",
        "toxicity.hate",
        "toxicity.self_harm",
        "limit.length",
        "encoding.control",
        "encoding.bidi",
        "encoding.invisible",
        "encoding.invalid",
        "ungrounded",
        "invalid_citation",
    }
)
KNOWN_DETECTORS = frozenset(
    {
        "rules",
        "rules.base64",
        "rules.hex",
        "rules.rot13",
        "rules.reversed",
        "classifier.tfidf",
        "classifier.embedding",
        "regex",
        "presidio",
        "blocklist",
        "toxicity",
        "limits",
        "grounding",
        "citations",
    }
)
DEFAULT_POLICY = "default"
_POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PolicyError(ValueError):
    """The policy YAML is invalid; the message names the file and the key path."""


@dataclass(frozen=True)
class CategoryRule:
    """What to do about one category: the action and the score that triggers it."""

    action: Action = Action.ALLOW
    threshold: float = 0.5
    detector_thresholds: Mapping[str, float] = field(default_factory=dict)

    def threshold_for(self, detector: str) -> float:
        return self.detector_thresholds.get(detector, self.threshold)


ALLOW_RULE = CategoryRule(Action.ALLOW, 1.0)


@dataclass(frozen=True)
class CheckPolicy:
    """The rules of one check (input, output or document) in one policy."""

    max_chars: int
    categories: Mapping[str, CategoryRule]

    def rule_for(self, category: str) -> CategoryRule:
        """Exact rule, else the longest matching ``prefix.*`` rule, else ``*``, else allow."""
        rule = self.categories.get(category)
        if rule is not None:
            return rule
        parts = category.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            rule = self.categories.get(".".join(parts[:cut]) + ".*")
            if rule is not None:
                return rule
        return self.categories.get("*", ALLOW_RULE)

    def allows_all(self, categories: frozenset[str]) -> bool:
        """True when every category in ``categories`` resolves to ALLOW (a detector for them can be skipped)."""
        return all(self.rule_for(category).action == Action.ALLOW for category in categories)


@dataclass(frozen=True)
class Policy:
    """A named policy: three check policies and a blocklist."""

    name: str
    input: CheckPolicy
    output: CheckPolicy
    document: CheckPolicy
    blocklist_terms: tuple[str, ...] = ()
    blocklist_patterns: tuple[str, ...] = ()

    def check(self, check: Check) -> CheckPolicy:
        return {Check.INPUT: self.input, Check.OUTPUT: self.output, Check.DOCUMENT: self.document}[check]


@dataclass(frozen=True)
class PolicySet:
    """All policies and the tenant mapping."""

    policies: Mapping[str, Policy]
    tenants: Mapping[str, str]
    default_policy: str = DEFAULT_POLICY

    def for_tenant(self, tenant: str) -> Policy:
        """The tenant's policy; tenants not listed get the default policy."""
        return self.policies[self.tenants.get(tenant, self.default_policy)]


def builtin_document() -> dict[str, Any]:
    """The shipped default policy YAML, parsed."""
    text = resources.files("ragplane_guardrail").joinpath("default_policy.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_policies(path: str | Path | None = None) -> PolicySet:
    """The built-in default merged with the file at ``path`` (if any), validated.

    Raises:
        PolicyError: unreadable file, bad YAML or an invalid key; the message names the file and key path.
    """
    source = str(path) if path else "built-in default policy"
    document = builtin_document()
    if path:
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"{source}: cannot read: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise PolicyError(f"{source}: not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise PolicyError(f"{source}: the top level must be a mapping, but got {type(loaded).__name__}")
        document = merge_documents(document, loaded)
    return parse_policies(document, source)


def parse_policies(document: Mapping[str, Any], source: str = "policy") -> PolicySet:
    """Validate a parsed policy document (built-in default already merged in) and build the PolicySet.

    Raises:
        PolicyError: naming ``source`` and the key path of the first problem.
    """

    def fail(key: str, problem: str) -> PolicyError:
        return PolicyError(f"{source}: {key}: {problem}")

    _only_keys(document, {"version", "default_policy", "policies", "tenants"}, "", fail)
    version = document.get("version", 1)
    if version != 1:
        raise fail("version", f"must be 1, but got {version!r}")
    raw_policies = document.get("policies") or {}
    if not isinstance(raw_policies, dict) or DEFAULT_POLICY not in raw_policies:
        raise fail("policies", f"must be a mapping that contains {DEFAULT_POLICY!r}")
    resolved: dict[str, dict[str, Any]] = {}
    for name in raw_policies:
        resolved[name] = _resolve_extends(name, raw_policies, fail, [])
    policies = {name: _parse_policy(name, body, fail) for name, body in resolved.items()}
    tenants_raw = document.get("tenants") or {}
    if not isinstance(tenants_raw, dict):
        raise fail("tenants", f"must be a mapping of tenant to policy name, but got {type(tenants_raw).__name__}")
    tenants = {}
    for tenant, policy_name in tenants_raw.items():
        if policy_name not in policies:
            raise fail(
                f"tenants.{tenant}",
                f"names policy {policy_name!r}, which is not defined (defined: {', '.join(sorted(policies))})",
            )
        tenants[str(tenant)] = str(policy_name)
    default_policy = document.get("default_policy", DEFAULT_POLICY)
    if default_policy not in policies:
        raise fail("default_policy", f"names policy {default_policy!r}, which is not defined")
    return PolicySet(policies, tenants, default_policy)


def merge_documents(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else (lists, scalars) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_documents(merged[key], value)
        else:
            merged[key] = value
    return merged


def _only_keys(mapping: Mapping[str, Any], allowed: set[str], prefix: str, fail) -> None:
    for key in mapping:
        if key not in allowed:
            where = f"{prefix}{key}"
            raise fail(where, f"unknown key (expected one of {', '.join(sorted(allowed))})")


def _resolve_extends(name: str, raw: Mapping[str, Any], fail, chain: list[str]) -> dict[str, Any]:
    key = f"policies.{name}"
    if not isinstance(name, str) or not _POLICY_NAME.match(name):
        raise fail(key, "policy names use letters, digits, '_', '.', '-' (at most 64)")
    body = raw[name] if raw[name] is not None else {}
    if not isinstance(body, dict):
        raise fail(key, f"must be a mapping, but got {type(body).__name__}")
    if name in chain:
        raise fail(f"{key}.extends", f"circular: {' -> '.join([*chain, name])}")
    parent = body.get("extends", None if name == DEFAULT_POLICY else DEFAULT_POLICY)
    if parent is None:
        return dict(body)
    if parent not in raw:
        raise fail(f"{key}.extends", f"names policy {parent!r}, which is not defined")
    base = _resolve_extends(parent, raw, fail, [*chain, name])
    base.pop("extends", None)
    return merge_documents(base, body)


def _parse_policy(name: str, body: Mapping[str, Any], fail) -> Policy:
    prefix = f"policies.{name}."
    _only_keys(body, {"extends", "blocklist", "input", "output", "document"}, prefix, fail)
    blocklist = body.get("blocklist") or {}
    if not isinstance(blocklist, dict):
        raise fail(f"{prefix}blocklist", "must be a mapping with 'terms' and 'patterns'")
    _only_keys(blocklist, {"terms", "patterns"}, f"{prefix}blocklist.", fail)
    terms = _string_list(blocklist.get("terms") or [], f"{prefix}blocklist.terms", fail)
    patterns = _string_list(blocklist.get("patterns") or [], f"{prefix}blocklist.patterns", fail)
    if len(patterns) > MAX_PATTERNS:
        raise fail(f"{prefix}blocklist.patterns", f"has {len(patterns)} patterns, at most {MAX_PATTERNS} allowed")
    for index, pattern in enumerate(patterns):
        try:
            compile_pattern(pattern)
        except PatternError as exc:
            raise fail(f"{prefix}blocklist.patterns[{index}]", str(exc)) from None
    checks = {}
    for check in Check:
        section = body.get(check.value)
        if not isinstance(section, dict):
            raise fail(f"{prefix}{check.value}", "must be a mapping with 'max_chars' and 'categories'")
        checks[check] = _parse_check(section, f"{prefix}{check.value}.", fail)
    return Policy(name, checks[Check.INPUT], checks[Check.OUTPUT], checks[Check.DOCUMENT], terms, patterns)


def _parse_check(section: Mapping[str, Any], prefix: str, fail) -> CheckPolicy:
    _only_keys(section, {"max_chars", "categories"}, prefix, fail)
    max_chars = section.get("max_chars")
    if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars <= 0:
        raise fail(f"{prefix}max_chars", f"must be an integer > 0, but got {max_chars!r}")
    raw_categories = section.get("categories") or {}
    if not isinstance(raw_categories, dict):
        raise fail(f"{prefix}categories", "must be a mapping of category to rule")
    categories = {}
    for category, raw_rule in raw_categories.items():
        key = f"{prefix}categories.{category}"
        _check_category_name(str(category), key, fail)
        categories[str(category)] = _parse_rule(raw_rule, key, fail)
    return CheckPolicy(max_chars, categories)


def _check_category_name(category: str, key: str, fail) -> None:
    if category in KNOWN_CATEGORIES or category == "*":
        return
    if category.endswith(".*") and any(known.startswith(category[:-1]) for known in KNOWN_CATEGORIES):
        return
    raise fail(key, f"unknown category (known: {', '.join(sorted(KNOWN_CATEGORIES))}, or a prefix such as 'pii.*')")


def _parse_rule(raw: Any, key: str, fail) -> CategoryRule:
    if isinstance(raw, str):
        raw = {"action": raw}
    if not isinstance(raw, dict):
        raise fail(key, f"must be a mapping with 'action' and 'threshold', or an action name, but got {raw!r}")
    _only_keys(raw, {"action", "threshold", "detectors"}, f"{key}.", fail)
    if "action" not in raw:
        raise fail(f"{key}.action", "required")
    try:
        action = Action.parse(str(raw["action"]))
    except ValueError as exc:
        raise fail(f"{key}.action", str(exc)) from None
    threshold = _threshold(raw.get("threshold", 0.5), f"{key}.threshold", fail)
    detectors_raw = raw.get("detectors") or {}
    if not isinstance(detectors_raw, dict):
        raise fail(f"{key}.detectors", "must be a mapping of detector name to threshold")
    detector_thresholds = {}
    for detector, value in detectors_raw.items():
        if detector not in KNOWN_DETECTORS:
            raise fail(f"{key}.detectors.{detector}", f"unknown detector (known: {', '.join(sorted(KNOWN_DETECTORS))})")
        detector_thresholds[str(detector)] = _threshold(value, f"{key}.detectors.{detector}", fail)
    return CategoryRule(action, threshold, detector_thresholds)


def _threshold(value: Any, key: str, fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise fail(key, f"must be a number between 0 and 1, but got {value!r}")
    return float(value)


def _string_list(value: Any, key: str, fail) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise fail(key, f"must be a list of strings, but got {value!r}")
    return tuple(value)
