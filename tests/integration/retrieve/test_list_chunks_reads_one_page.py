"""ListChunks reads about one page from the store, not the whole document (both backends).

The store's engine (the edge shard, qdrant-client in local mode) is wrapped to count the points its scroll calls
return while the first, a middle and the last page of a 2,000-chunk document are listed.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragplane_retrieve.listing import list_chunks
from ragplane_retrieve.store.edge import EdgeStore
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.integration

CHUNKS = 2000
PAGE = 10


class Counting:
    """Delegates to ``inner`` and counts the points its ``scroll`` returns."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.points = 0

    def scroll(self, *args, **kwargs):
        page, offset = self.inner.scroll(*args, **kwargs)
        self.points += len(page)
        return page, offset

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(params=["edge", "qdrant-local"])
def store(request, tmp_path, make_point, make_unit):
    if request.param == "edge":
        store = EdgeStore(tmp_path / "store", dimensions=8)
    else:
        store = QdrantServerStore(collection="pages", dimensions=8, location=":memory:")
    store.open()
    rng = np.random.default_rng(0)
    points = [make_point("t1", "long", i, make_unit(rng, 8)) for i in range(CHUNKS)]
    for start in range(0, CHUNKS, 500):
        store.upsert(points[start : start + 500])
    attr = "_chunks" if request.param == "edge" else "_client"
    real = getattr(store, attr)
    counting = Counting(real)
    setattr(store, attr, counting)
    yield store, counting
    setattr(store, attr, real)
    store.close()


def test_a_page_of_a_long_document_reads_about_a_page_from_the_store(store):
    store, counting = store
    first = list_chunks(store, "t1", "long", page_size=PAGE, page_token="")
    assert [h.payload["chunk_index"] for h in first.hits] == list(range(PAGE))
    read_first, token = counting.points, first.next_page_token
    for _ in range(CHUNKS // PAGE // 2 - 1):
        page = list_chunks(store, "t1", "long", page_size=PAGE, page_token=token)
        token = page.next_page_token
    assert [h.payload["chunk_index"] for h in page.hits] == list(range(CHUNKS // 2 - PAGE, CHUNKS // 2))
    # Was 2,000 points for the first page and ~1,000 for a middle one: the whole rest of the document.
    assert read_first <= 4 * PAGE, read_first
    assert counting.points <= 4 * PAGE * (CHUNKS // PAGE // 2), counting.points
