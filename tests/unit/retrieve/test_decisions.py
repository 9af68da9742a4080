"""Index writer decisions: stale versions, replays, deletions, index versions."""

from __future__ import annotations

import pytest

from ragplane_retrieve.decisions import Action, decide, next_index_version
from ragplane_retrieve.model import DocState

pytestmark = pytest.mark.unit


def state(sequence, deleted=False, complete=False):
    return DocState("t", "d", sequence, deleted=deleted, complete=complete)


@pytest.mark.parametrize(
    "stored, delete, sequence, expected",
    [
        (None, False, 1, Action.APPLY_UPSERT),
        (state(1, complete=True), False, 2, Action.APPLY_UPSERT),  # newer version
        (state(2, complete=False), False, 2, Action.APPLY_UPSERT),  # next batch (or replay) of a partial version
        (state(2, complete=True), False, 2, Action.DUPLICATE),  # replay of a complete version
        (state(3, complete=True), False, 2, Action.STALE),  # older version arrives late
        (state(3, deleted=True, complete=True), False, 3, Action.STALE),  # same sequence as its deletion
        (state(3, deleted=True, complete=True), False, 4, Action.APPLY_UPSERT),  # re-ingested after deletion
        (None, True, 1, Action.APPLY_DELETE),
        (state(2, complete=True), True, 2, Action.APPLY_DELETE),  # delete of the indexed version
        (state(2, complete=True), True, 5, Action.APPLY_DELETE),
        (state(5, deleted=True, complete=True), True, 5, Action.DUPLICATE),  # replayed delete
        (state(5, complete=True), True, 4, Action.STALE),  # delete older than the indexed version
    ],
)
def test_decide(stored, delete, sequence, expected):
    assert decide(stored, delete, sequence) is expected


def test_index_version_always_grows():
    assert next_index_version(10, now_us=5) == 11
    assert next_index_version(10, now_us=1_000) == 1_000
    current = 0
    for _ in range(100):
        nxt = next_index_version(current)
        assert nxt > current
        current = nxt
