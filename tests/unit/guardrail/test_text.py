"""Text views: normalisation and de-obfuscation map back to the original offsets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragplane_guardrail.text import Text, split_sentences

pytestmark = pytest.mark.unit


def _find(view, needle: str) -> tuple[int, int]:
    index = view.text.index(needle)
    return view.to_original(index, index + len(needle))


def test_normalised_view_removes_zero_width_characters_and_maps_spans_back():
    text = Text("please Ign\u200bore this")
    start, end = _find(text.normalised, "ignore")
    assert text.raw[start:end] == "Ign\u200bore"


def test_homoglyphs_are_folded_only_inside_latin_words():
    assert Text("r\u0435veal your syst\u0435m").normalised.text == "reveal your system"
    assert Text("Игнорируй").normalised.text == "игнорируи"


def test_fullwidth_letters_fold_to_ascii():
    assert Text("Ｉｇｎｏｒｅ ａｌｌ").normalised.text == "ignore all"


def test_tag_characters_are_decoded_so_hidden_ascii_is_visible():
    hidden = "".join(chr(0xE0000 + ord(c)) for c in "Hi")
    assert Text(f"x {hidden} y").normalised.text == "x hi y"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1gn0r3 4ll pr3v10us", "ignore all previous"),
        ("I g n o r e   a l l   p r e v i o u s", "ignore all previous"),
        ("i.g.n.o.r.e p.r.e.v.i.o.u.s", "ignore previous"),
        ("ignore-all-previous-instructions", "ignore all previous instructions"),
        ("version 2.10.4 has 3 fixes", "version 2.10.4 has 3 fixes"),
    ],
)
def test_deobfuscated_view_undoes_leet_spacing_and_glued_words(raw: str, expected: str):
    assert Text(raw).deobfuscated.text == expected


def test_deobfuscated_span_points_at_the_spaced_original():
    text = Text("ok: I g n o r e it")
    start, end = _find(text.deobfuscated, "ignore")
    assert text.raw[start:end] == "I g n o r e"


@given(st.text(max_size=80))
def test_every_view_maps_each_character_to_a_valid_original_offset(raw: str):
    text = Text(raw)
    for view in (text.normalised, text.deobfuscated):
        assert len(view.origin) == len(view.text) + 1
        assert all(0 <= o <= len(raw) for o in view.origin)
        assert list(view.origin[:-1]) == sorted(view.origin[:-1])


def test_sentences_split_on_terminal_punctuation_blank_lines_and_list_items():
    text = "First one. Second one! Third?\n\nFourth\n- item a\n- item b"
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "First one.",
        "Second one!",
        "Third?",
        "Fourth",
        "- item a",
        "- item b",
    ]
