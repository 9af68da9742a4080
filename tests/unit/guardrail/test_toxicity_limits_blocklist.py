"""Toxicity lexicon, length/encoding limits and blocklists."""

from __future__ import annotations

import pytest

from ragplane_guardrail.detectors.blocklist import Blocklist
from ragplane_guardrail.detectors.limits import Limits
from ragplane_guardrail.detectors.toxicity import Toxicity
from ragplane_guardrail.text import Text

pytestmark = pytest.mark.unit


def _categories(detector, text: str) -> dict[str, float]:
    return {f.category: f.score for f in detector.detect(Text(text))}


@pytest.mark.parametrize(
    "text, category",
    [
        ("I will kill you", "toxicity.threat"),
        ("you are such a f*cking idiot", "toxicity.insult"),
        ("this is sh1t", "toxicity.profanity"),
        ("go and die", "toxicity.self_harm"),
        ("all of those people should be exterminated", "toxicity.hate"),
    ],
)
def test_toxicity_subcategories(text: str, category: str):
    assert category in _categories(Toxicity(), text)


@pytest.mark.parametrize(
    "text",
    [
        "kill the process with kill -9",
        "the idiot light on the dashboard",
        "What is the capital of France?",
        "This assignment is killing me, any tips?",
    ],
)
def test_toxicity_ignores_ordinary_uses_of_strong_words(text: str):
    assert _categories(Toxicity(), text) == {}


def test_length_limit_is_a_whole_text_finding():
    findings = Limits(10).detect(Text("x" * 11))
    assert [(f.category, f.start, f.end) for f in findings] == [("limit.length", 0, 0)]
    assert Limits(10).detect(Text("x" * 10)) == []


def test_control_and_bidi_override_characters_are_reported_with_spans():
    text = "name\x07 file\u202egnp.exe"
    found = {(f.category, text[f.start : f.end]) for f in Limits(100).detect(Text(text))}
    assert found == {("encoding.control", "\x07"), ("encoding.bidi", "\u202e")}


def test_one_stray_zero_width_space_scores_lower_than_many():
    one = _categories(Limits(100), "hello\u200bworld")["encoding.invisible"]
    many = _categories(Limits(100), "h\u200be\u200bl\u200bl\u200bo")["encoding.invisible"]
    assert one < 0.9 <= many


def test_emoji_joiners_and_flag_tags_are_legitimate():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    england = "\U0001f3f4" + "".join(chr(0xE0000 + ord(c)) for c in "gbeng") + "\U000e007f"
    assert Limits(100).detect(Text(f"{family} and {england}")) == []


def test_tag_characters_outside_flags_are_invisible_text():
    hidden = "".join(chr(0xE0000 + ord(c)) for c in "ignore")
    assert "encoding.invisible" in _categories(Limits(100), f"hi {hidden}")


def test_blocklist_matches_whole_words_case_and_width_insensitively():
    blocklist = Blocklist(terms=("Project Falcon",), patterns=(r"ACME-\d{4}",))
    text = "About ＰＲＯＪＥＣＴ falcon and acme-1234, not projectfalconer."
    assert [text[f.start : f.end] for f in blocklist.detect(Text(text))] == ["ＰＲＯＪＥＣＴ falcon", "acme-1234"]


def test_empty_blocklist_reports_nothing():
    assert Blocklist().empty and Blocklist().detect(Text("anything")) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("What is the refund policy for annual subscriptions?", False),
        ("how do i reset my password? Thanks.", False),
        ("Is Maria in the office today?", True),
        ("Maria Garcia wrote the contract.", True),
        ("The office is in Berlin.", True),
    ],
)
def test_presidio_gate_passes_only_texts_with_capitalised_words_past_sentence_starts(text: str, expected: bool):
    from ragplane_guardrail.detectors.pii_presidio import worth_analysing

    assert worth_analysing(text) is expected
