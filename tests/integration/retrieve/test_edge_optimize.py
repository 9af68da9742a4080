"""The embedded store's own behaviour: off-process optimize (searches go on, writes made meanwhile survive
the swap), crash recovery, one process per directory."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from ragplane_retrieve.model import Condition, SearchQuery
from ragplane_retrieve.store.base import StoreError
from ragplane_retrieve.store.edge import EdgeStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def rng():
    return np.random.default_rng(3)


def open_store(path) -> EdgeStore:
    # A small indexing threshold so that a few hundred points get a real HNSW index.
    store = EdgeStore(path, indexing_threshold_kb=64)
    store.open()
    return store


def test_offline_optimize_indexes_a_copy_and_keeps_writes_made_meanwhile(tmp_path, rng, make_point, make_unit):
    store = open_store(tmp_path / "s")
    vectors = [make_unit(rng) for _ in range(600)]
    store.upsert([make_point("t1", f"d{i // 10}", i % 10, v, {i: 1.0}) for i, v in enumerate(vectors)])
    assert store.unindexed_points() >= 600
    late = [make_point("t1", "late", i, make_unit(rng), {i: 1.0}) for i in range(20)]

    def write_meanwhile():
        # The child has optimized the copy; these writes exist only in the live shard and the journal.
        assert store.search(SearchQuery("t1", "dense", top_k=1, dense=vectors[5]))[0].payload["doc_id"] == "d0"
        store.upsert(late)
        store.delete("t1", [Condition("doc_id", equals="d1")])

    assert store.offline_optimize(timeout_s=600, between=write_meanwhile) is True
    assert store.count("t1") == 600 + 20 - 10
    assert store.count("t1", [Condition("doc_id", equals="late")]) == 20
    assert store.unindexed_points() <= 20  # only the journaled points are outside the new index
    assert store.search(SearchQuery("t1", "dense", top_k=1, dense=vectors[123]))[0].payload["doc_id"] == "d12"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["chunks", "state"]
    store.close()

    reopened = open_store(tmp_path / "s")
    assert reopened.count("t1") == 610 and reopened.unindexed_points() <= 20
    reopened.close()


def test_an_interrupted_swap_is_undone_at_open(tmp_path, rng, make_point, make_unit):
    store = open_store(tmp_path / "s")
    store.upsert([make_point("t1", "d", i, make_unit(rng)) for i in range(30)])
    store.close()
    chunks = tmp_path / "s" / "chunks"
    # As if the process died after renaming the live shard away and moving a partial copy in.
    os.rename(chunks, chunks.with_name("chunks.old"))
    shutil.copytree(chunks.with_name("chunks.old"), chunks)
    shutil.rmtree(chunks / "segments")
    (chunks.with_name("chunks.optimizing")).mkdir()
    reopened = open_store(tmp_path / "s")
    assert reopened.count("t1") == 30
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["chunks", "state"]
    reopened.close()


def test_a_failed_child_leaves_the_live_shard_untouched(tmp_path, rng, make_point, make_unit, monkeypatch):
    store = open_store(tmp_path / "s")
    store.upsert([make_point("t1", "d", i, make_unit(rng)) for i in range(30)])
    monkeypatch.setattr("ragplane_retrieve.store.edge.sys.executable", "/bin/false")
    assert store.offline_optimize(timeout_s=60) is False
    store.upsert([make_point("t1", "e", 0, make_unit(rng))])
    assert store.count("t1") == 31
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["chunks", "state"]
    store.close()


def test_a_second_opener_of_the_same_folder_is_refused_with_a_clear_error(tmp_path):
    first = open_store(tmp_path / "s")
    try:
        with pytest.raises(StoreError, match="open in another process"):
            # A second process in production; the WAL lock works the same within one process.
            open_store(tmp_path / "s")
    finally:
        first.close()
