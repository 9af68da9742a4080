"""The guardrail benchmark's rates: detection rate, false-positive rate and precision from labelled outcomes."""

from __future__ import annotations

import pytest

from ragplane_guardrail.bench import rates

pytestmark = pytest.mark.unit


def test_rates_count_hits_misses_and_false_alarms():
    outcomes = [
        (True, True),
        (True, True),
        (True, False),
        (False, True),
        (False, False),
        (False, False),
        (False, False),
    ]
    assert rates(outcomes) == {
        "positives": 3,
        "negatives": 4,
        "tp": 2,
        "fn": 1,
        "fp": 1,
        "tn": 3,
        "detection_rate": 0.6667,
        "false_positive_rate": 0.25,
        "precision": 0.6667,
    }


def test_rates_without_positives_or_flags_are_none_not_a_division_error():
    result = rates([(False, False), (False, False)])
    assert result["detection_rate"] is None and result["precision"] is None
    assert result["false_positive_rate"] == 0.0
