"""Citation markers: the ``[n]`` references to numbered passages that answers carry.

The generator's prompt asks the model to cite passages "as [n]"; models also write lists and ranges. One
grammar, shared by the generator (which maps markers to passages), the guardrail (which checks them) and the
evaluator (which strips them before judging claims), so that all three read the same markers the same way:

- a marker is ``[``, numbers of one to four digits separated by ``,``, ``;``, ``-`` or ``–`` (spaces allowed
  around numbers and separators), then ``]``: ``[2]``, ``[1, 3]``, ``[1; 3]``, ``[2-4]``, ``[ 2 ]``;
  adjacent markers ``[1][3]`` are two markers;
- ``a-b`` is the range a..b when a <= b and it holds at most ``MAX_RANGE`` numbers, else the two numbers
  a and b (a year span such as ``[1990-2020]`` is not a thousand citations);
- anything else in brackets (``[the]``, ``[citation needed]``, ``[12345]``) is not a marker.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

_NUMBER = r"\d{1,4}"
_SEPARATOR = r"\s*[,;\-–]\s*"
_MARKER = re.compile(rf"\[\s*({_NUMBER}(?:{_SEPARATOR}{_NUMBER})*)\s*\]")
# Whitespace before a marker goes with it, so that "Paris [1]." strips to "Paris.".
_MARKER_WITH_SPACE = re.compile(rf"\s*{_MARKER.pattern}")
MAX_RANGE = 10


class Marker(NamedTuple):
    """One marker: its span in the text and the passage numbers it names, in the order written."""

    start: int
    end: int
    numbers: list[int]


def parse_numbers(body: str) -> list[int]:
    """The passage numbers of a marker's inside (``"1, 3-4"`` -> ``[1, 3, 4]``), ranges expanded."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;]\s*", body.strip()):
        bounds = [int(b) for b in re.split(r"\s*[-–]\s*", part)]
        if len(bounds) == 2 and bounds[0] <= bounds[1] and bounds[1] - bounds[0] < MAX_RANGE:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            numbers.extend(bounds)
    return numbers


def _marker(match: re.Match[str]) -> Marker:
    return Marker(match.start(), match.end(), parse_numbers(match.group(1)))


def find_markers(text: str) -> list[Marker]:
    """Every marker in ``text``, in order."""
    return [_marker(match) for match in _MARKER.finditer(text)]


def replace_markers(text: str, replace: Callable[[Marker], str]) -> str:
    """``text`` with each marker replaced by what ``replace`` returns for it."""
    return _MARKER.sub(lambda match: replace(_marker(match)), text)


def strip_markers(text: str) -> str:
    """``text`` without markers (and the whitespace before each), stripped: ``"Paris [1]."`` -> ``"Paris."``."""
    return _MARKER_WITH_SPACE.sub("", text).strip()
