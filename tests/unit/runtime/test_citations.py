"""The one citation-marker grammar: what is a marker, which numbers it names, and stripping it."""

from __future__ import annotations

import pytest

from ragplane.runtime.citations import find_markers, parse_numbers, replace_markers, strip_markers

pytestmark = pytest.mark.unit


def numbers_in(text: str) -> list[list[int]]:
    return [marker.numbers for marker in find_markers(text)]


def test_markers_parse_lists_and_ranges():
    assert numbers_in("a [1] b [2, 3] c [4-6] d [7; 9] e [2–3] f [1][3]") == [
        [1],
        [2, 3],
        [4, 5, 6],
        [7, 9],
        [2, 3],
        [1],
        [3],
    ]


def test_spaces_inside_a_marker_are_allowed():
    assert numbers_in("see [ 2 ] and [1 ,3]") == [[2], [1, 3]]


def test_bracketed_words_and_long_numbers_are_not_markers():
    assert numbers_in("In [the] year [citation needed] of [12345], [a1] and [] it grew") == []


def test_a_long_or_reversed_span_names_its_two_ends():
    assert parse_numbers("1990-2020") == [1990, 2020]
    assert parse_numbers("5-2") == [5, 2]
    assert parse_numbers("1-11") == [1, 11] and parse_numbers("1-10") == list(range(1, 11))


def test_marker_spans_point_at_the_marker():
    text = "Paris [1, 2] is old."
    (marker,) = find_markers(text)
    assert text[marker.start : marker.end] == "[1, 2]"


def test_strip_removes_markers_and_the_space_before_them():
    assert (
        strip_markers("Paris is the capital [1]. It lies on the Seine [2, 3][4].")
        == "Paris is the capital. It lies on the Seine."
    )
    assert strip_markers("Denver Broncos [1]") == "Denver Broncos"
    assert strip_markers("a [the] b") == "a [the] b"


def test_replace_sees_each_marker():
    assert replace_markers("x [1-2] y [5]", lambda m: f"<{sum(m.numbers)}>") == "x <3> y <5>"
