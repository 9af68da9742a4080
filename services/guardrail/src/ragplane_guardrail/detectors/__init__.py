"""Detectors: each turns a text into findings (category, score, span, detector name).

Every detector follows the ``Detector`` protocol so the engine can run, time and skip them uniformly.
"""

from __future__ import annotations

from typing import Protocol

from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import Finding


class Detector(Protocol):
    """What every detector provides.

    Attributes:
        name: the detector name reported in findings and metrics.
        categories: every category it can report, or category prefixes ending in "." (e.g. "pii."), so
            the engine can skip it when the policy allows all of them.
    """

    name: str
    categories: frozenset[str]

    def detect(self, text: Text) -> list[Finding]:
        """Findings in ``text`` with spans in ``text.raw``; an empty list when there are none."""
        ...
