"""Tenant blocklist patterns run on a linear-time engine (issue 13, hardening item 2).

A policy author's ``(a+)+$`` made Python's backtracking engine run for hours on a 30-character text while
holding the GIL, so one tenant's policy could stall every check. Patterns are compiled with RE2: matching is
linear in the text, and what RE2 cannot run in linear time (backreferences, lookaround) is refused at load
with the key of the pattern.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from ragplane_guardrail.detectors.blocklist import Blocklist
from ragplane_guardrail.policy import PolicyError, builtin_document, merge_documents, parse_policies
from ragplane_guardrail.text import Text

pytestmark = pytest.mark.unit

EVIL = [r"(a+)+$", r"(a|a)*b", r"(a|aa)+c", r"(\w+\s?)+$", r"^(\d+)*x"]


@pytest.mark.parametrize("pattern", EVIL)
def test_a_backtracking_pattern_on_a_megabyte_finishes_in_linear_time(pattern):
    # In a child process: on a backtracking engine this never returns, and sre cannot be interrupted.
    code = textwrap.dedent(
        f"""
        import time
        from ragplane_guardrail.detectors.blocklist import Blocklist
        from ragplane_guardrail.text import Text
        blocklist = Blocklist(patterns=({pattern!r},))
        for size in (10_000, 1_000_000):
            text = Text("a" * (size - 1) + "!")
            started = time.perf_counter()
            blocklist.detect(text)
            print(size, time.perf_counter() - started)
        """
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{pattern!r} on 10 kB-1 MB did not finish in 20 s")
    assert done.returncode == 0, done.stderr
    times = dict(line.split() for line in done.stdout.splitlines())
    assert float(times["1000000"]) < 2.0, times


def _policy_with_patterns(*patterns: str):
    document = merge_documents(builtin_document(), {"policies": {"acme": {"blocklist": {"patterns": list(patterns)}}}})
    return parse_policies(document, "test.yaml")


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(a)\1", "backreference"),
        (r"secret(?=code)", "lookaround"),
        (r"(?<!x)secret", "lookaround"),
        ("x" * 2001, "longer than"),
        (r"((a{100}){100}){100}", "too large"),
        (r"(unclosed", "not a valid"),
    ],
)
def test_a_pattern_the_linear_engine_cannot_run_is_refused_naming_its_key(pattern, problem):
    with pytest.raises(PolicyError) as caught:
        _policy_with_patterns(r"ACME-\d{4}", pattern)
    message = str(caught.value)
    assert "test.yaml: policies.acme.blocklist.patterns[1]:" in message
    assert problem in message


def test_too_many_patterns_are_refused_naming_the_list():
    with pytest.raises(PolicyError, match=r"policies\.acme\.blocklist\.patterns: .*at most 200"):
        _policy_with_patterns(*[f"word{i}" for i in range(201)])


def test_patterns_stay_case_insensitive_with_spans_in_the_original_text():
    blocklist = Blocklist(patterns=(r"ACME-\d{4}", r"projet\s+é\w+"))
    raw = "ünïcödé acme-1234 et le PROJET  Étoile"
    spans = sorted((f.start, f.end) for f in blocklist.detect(Text(raw)))
    assert [raw[s:e] for s, e in spans] == ["acme-1234", "PROJET  Étoile"]


def test_empty_matches_are_not_findings():
    assert Blocklist(patterns=(r"x*",)).detect(Text("abc")) == []


def test_a_policy_with_valid_patterns_loads():
    policies = _policy_with_patterns(r"ACME-\d{4}", r"(?i)secret\s+\w+")
    assert policies.policies["acme"].blocklist_patterns == (r"ACME-\d{4}", r"(?i)secret\s+\w+")
    started = time.perf_counter()
    Blocklist(patterns=policies.policies["acme"].blocklist_patterns).detect(Text("secret plan " * 80_000))
    assert time.perf_counter() - started < 2.0
