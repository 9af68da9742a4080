"""The guardrail's text views stay linear on hostile input: long runs of digits, underscores or non-Latin letters.

A quadratic view freezes the whole guardrail (the regex holds the GIL), so every check of every tenant waits.
Times are bounded generously (a loaded 2-core machine), far below what the quadratic code took (minutes).
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragplane_guardrail.text import Text

pytestmark = pytest.mark.unit

HOSTILE_RUNS = {
    "digits": "1" * 100_000,
    "underscores": "_" * 100_000,
    "cyrillic": "ж" * 100_000,
    "digits_with_dollars": "1$" * 50_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_RUNS))
def test_a_100k_character_word_run_is_normalised_and_deobfuscated_within_two_seconds(name):
    text = Text(HOSTILE_RUNS[name])
    started = time.perf_counter()
    view = text.deobfuscated
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{name}: {elapsed:.1f} s for 100,000 characters"
    assert len(view.origin) == len(view.text) + 1


def test_folding_and_leet_still_apply_inside_mixed_words_next_to_long_runs():
    text = Text("1" * 50_000 + " syst\u0435m r3v3al " + "ж" * 50_000)
    assert "system" in text.normalised.text
    assert " reveal " in text.deobfuscated.text
    assert text.normalised.text.endswith("ж" * 50_000)  # a Cyrillic word on its own is left intact


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_normaliser_never_raises_and_its_output_is_linear_in_the_input(raw):
    text = Text(raw)
    normalised, deobfuscated = text.normalised, text.deobfuscated
    # NFKC expands one character into at most 18 (U+FDFA); case folding and accents add a few more.
    assert len(normalised.text) <= 20 * len(raw)
    assert len(deobfuscated.text) <= len(normalised.text)
    for view in (normalised, deobfuscated):
        assert len(view.origin) == len(view.text) + 1
        assert all(0 <= offset <= len(raw) for offset in view.origin)
