"""RAGPLANE_QDRANT_URL names qdrant-client's local mode as well as a server: ``file:///abs/dir`` or ``:memory:``.

The deployment boot test runs retrieve with the chart's rendered environment where the Qdrant server is replaced
by local mode (no server binary exists here). The store is built from the settings exactly as the service builds
it, and the whole store contract runs on a folder location.
"""

from __future__ import annotations

import pytest
from integration.retrieve.test_store_contract import StoreContract

from ragplane.runtime.settings import SettingsError, load_settings
from ragplane_retrieve.app import build_store
from ragplane_retrieve.config import Settings
from ragplane_retrieve.model import Condition
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.integration


def store_from(url: str, **environ: str) -> QdrantServerStore:
    settings = load_settings(Settings, {"RAGPLANE_RETRIEVE_STORE": "qdrant", "RAGPLANE_QDRANT_URL": url, **environ})
    store = build_store(settings)
    assert isinstance(store, QdrantServerStore), type(store).__name__
    return store


class TestQdrantStoreOnAFolderLocation(StoreContract):
    """The contract suite on a store built from ``RAGPLANE_QDRANT_URL=file:///<tmp>/qdrant``."""

    @pytest.fixture
    def store(self, tmp_path):
        store = store_from(f"file://{tmp_path / 'qdrant'}", RAGPLANE_RETRIEVE_METADATA_INDEXES="lang:keyword")
        store.open()
        yield store
        store.close()


def test_a_folder_location_keeps_points_across_a_restart(tmp_path, make_point, make_unit):
    import numpy as np

    rng = np.random.default_rng(3)
    folder = tmp_path / "qdrant"
    first = store_from(f"file://{folder}")
    first.open()
    first.upsert([make_point("t1", "d1", i, make_unit(rng)) for i in range(3)])
    first.close()
    assert folder.is_dir() and any(folder.iterdir())

    second = store_from(f"file://{folder}")
    second.open()
    try:
        assert second.count("t1", [Condition("doc_id", equals="d1")]) == 3
    finally:
        second.close()


def test_memory_location_opens_without_touching_the_disk(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = store_from(":memory:")
    assert (store.location, store.url) == (":memory:", "")
    store.open()
    store.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["file://relative/dir", "file:///", "qdrant:6333", "/abs/dir"])
def test_a_url_that_is_neither_a_server_nor_a_local_location_is_refused_naming_the_variable(url):
    with pytest.raises(SettingsError, match="RAGPLANE_QDRANT_URL"):
        load_settings(Settings, {"RAGPLANE_QDRANT_URL": url})


def test_local_mode_reads_and_writes_through_the_alias_of_generation_1(tmp_path, make_point, make_unit):
    import numpy as np
    from qdrant_client import QdrantClient

    folder = tmp_path / "qdrant"
    store = store_from(f"file://{folder}", RAGPLANE_QDRANT_COLLECTION="chunks")
    store.open()
    store.upsert([make_point("t1", "d1", 0, make_unit(np.random.default_rng(5)))])
    assert (store.generation_collection, store.generation) == ("chunks_g1", 1)
    store.close()

    client = QdrantClient(path=str(folder))
    try:
        aliases = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
        assert aliases == {"chunks": "chunks_g1"}
        assert client.count("chunks_g1").count == 1
        # Local mode keeps the generation record; it drops shards and replication (a server keeps them).
        record = client.get_collection("chunks_g1").config.metadata["ragplane"]
        assert (record["alias"], record["generation"], record["dense"]) == (
            "chunks",
            1,
            {"size": 384, "distance": "cosine"},
        )
    finally:
        client.close()

    again = store_from(f"file://{folder}", RAGPLANE_QDRANT_COLLECTION="chunks")
    again.open()
    try:
        assert (again.generation_collection, again.count("t1")) == ("chunks_g1", 1)
    finally:
        again.close()


def test_local_mode_serves_a_plain_collection_from_before_the_alias_as_generation_0(tmp_path, make_point, make_unit):
    import numpy as np
    from qdrant_client import QdrantClient, models

    folder = tmp_path / "qdrant"
    client = QdrantClient(path=str(folder))
    client.create_collection(
        "chunks",
        vectors_config={"dense": models.VectorParams(size=384, distance=models.Distance.COSINE)},
        sparse_vectors_config={"sparse": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    client.close()

    store = store_from(f"file://{folder}", RAGPLANE_QDRANT_COLLECTION="chunks")
    store.open()
    try:
        store.upsert([make_point("t1", "d1", 0, make_unit(np.random.default_rng(6)))])
        assert (store.generation_collection, store.generation, store.count("t1")) == ("chunks", 0, 1)
    finally:
        store.close()


def test_reads_and_writes_follow_the_alias_to_another_generation(tmp_path, make_point, make_unit):
    import numpy as np

    from ragplane_retrieve.store.qdrant_collections import switch_alias

    rng = np.random.default_rng(8)
    store = store_from(f"file://{tmp_path / 'qdrant'}", RAGPLANE_QDRANT_COLLECTION="chunks")
    store.open()
    try:
        store.upsert([make_point("t1", "old", i, make_unit(rng)) for i in range(3)])
        # A second generation beside the first, as a rebuild would make it.
        g1 = store._client.get_collection("chunks_g1").config.params
        store._client.create_collection("chunks_g2", vectors_config=g1.vectors, sparse_vectors_config=g1.sparse_vectors)
        switch_alias(store._call, "chunks", "chunks_g2")
        assert store.count("t1") == 0
        store.upsert([make_point("t1", "new", 0, make_unit(rng))])
        assert store.count("t1", [Condition("doc_id", equals="new")]) == 1
        switch_alias(store._call, "chunks", "chunks_g1")
        assert store.count("t1", [Condition("doc_id", equals="old")]) == 3
    finally:
        store.close()
