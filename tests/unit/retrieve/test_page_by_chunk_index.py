"""page_by_chunk_index: a page in chunk order from fetches ordered by chunk index, also where versions share one."""

from __future__ import annotations

import pytest

from ragplane_retrieve.model import Hit
from ragplane_retrieve.store.base import PAGE_SLACK, chunk_position, page_by_chunk_index

pytestmark = pytest.mark.unit


def _hit(index: int, sequence: int) -> Hit:
    return Hit(f"{index}/{sequence}", 0.0, {"chunk_index": index, "sequence": sequence})


def _store(hits: list[Hit]):
    """A fetch over ``hits`` as an engine orders them (by chunk index only), recording each ``n`` asked for."""
    asked: list[int] = []
    ordered = sorted(hits, key=lambda h: (h.payload["chunk_index"], -h.payload["sequence"]))

    def fetch(n: int) -> list[Hit]:
        asked.append(n)
        return ordered[:n]

    return fetch, asked


@pytest.mark.parametrize("after", [None, (3, 1), (3, 2)])
def test_pages_match_a_full_sort_even_when_every_index_has_many_versions(after):
    hits = [_hit(i, s) for i in range(40) for s in (1, 2)]
    hits += [_hit(5, s) for s in range(3, 3 + 3 * PAGE_SLACK)]  # one index far wider than the slack
    fetch, asked = _store(hits)
    expected = sorted((h for h in hits if after is None or chunk_position(h) > after), key=chunk_position)[:12]
    assert page_by_chunk_index(fetch, 12, after) == expected
    assert len(asked) > 1  # it had to fetch more than once, and did


def test_a_page_of_distinct_indexes_takes_one_fetch_of_about_a_page():
    fetch, asked = _store([_hit(i, 1) for i in range(1000)])
    assert [h.payload["chunk_index"] for h in page_by_chunk_index(fetch, 11, None)] == list(range(11))
    assert asked == [11 + PAGE_SLACK]
