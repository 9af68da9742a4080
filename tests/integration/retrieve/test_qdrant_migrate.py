"""A plain chunk collection from before the alias moves behind it as generation 1, points and vectors intact.

Runs on qdrant-client's local mode (a folder), through the store built from the service's settings and through
the command (``python -m ragplane_retrieve.store.qdrant_migrate``) with the service's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from ragplane.runtime.settings import load_settings
from ragplane_retrieve.app import build_store
from ragplane_retrieve.config import Settings
from ragplane_retrieve.model import SearchQuery, Sparse
from ragplane_retrieve.store.qdrant_migrate import migrate_to_alias

pytestmark = pytest.mark.integration


def environment(folder) -> dict[str, str]:
    return {
        "RAGPLANE_RETRIEVE_STORE": "qdrant",
        "RAGPLANE_QDRANT_URL": f"file://{folder}",
        "RAGPLANE_QDRANT_COLLECTION": "chunks",
    }


@pytest.fixture
def legacy(tmp_path, make_point, make_unit):
    """A folder holding a plain collection "chunks" with 300 points of tenant t1, as an earlier release made it;
    returns (folder, dense vectors)."""
    rng = np.random.default_rng(11)
    folder = tmp_path / "qdrant"
    vectors = [make_unit(rng) for _ in range(300)]
    client = QdrantClient(path=str(folder))
    client.create_collection(
        "chunks",
        vectors_config={"dense": models.VectorParams(size=384, distance=models.Distance.COSINE)},
        sparse_vectors_config={"sparse": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    points = [make_point("t1", f"d{i // 10}", i % 10, v, {i: 1.0}) for i, v in enumerate(vectors)]
    client.upsert(
        "chunks",
        points=[
            models.PointStruct(
                id=p.id,
                payload=p.payload,
                vector={"dense": p.dense, "sparse": models.SparseVector(indices=list(p.sparse.indices), values=[1.0])},
            )
            for p in points
        ],
    )
    client.close()
    return folder, vectors


def test_migration_copies_every_point_then_puts_the_alias_on_generation_1(legacy):
    folder, vectors = legacy
    store = build_store(load_settings(Settings, environment(folder)))
    store.open()
    try:
        assert (store.generation_collection, store.generation) == ("chunks", 0)
        assert migrate_to_alias(store, batch=64) == 300
        assert (store.generation_collection, store.generation) == ("chunks_g1", 1)
        assert store.count("t1") == 300
        [hit] = store.search(SearchQuery("t1", "dense", top_k=1, dense=vectors[123]))
        assert (hit.payload["doc_id"], hit.payload["chunk_index"]) == ("d12", 3)
        [hit] = store.search(SearchQuery("t1", "sparse", top_k=1, sparse=Sparse((77,), (1.0,))))
        assert (hit.payload["doc_id"], hit.payload["chunk_index"]) == ("d7", 7)
        aliases = {a.alias_name: a.collection_name for a in store._client.get_aliases().aliases}
        names = {c.name for c in store._client.get_collections().collections}
        assert aliases == {"chunks": "chunks_g1"} and "chunks" not in names
        assert migrate_to_alias(store) == 0
    finally:
        store.close()


def test_the_command_migrates_with_the_service_settings(legacy):
    folder, _ = legacy
    env = {**os.environ, **environment(folder)}
    command = [sys.executable, "-m", "ragplane_retrieve.store.qdrant_migrate"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "moved 300 points behind the alias (chunks -> chunks_g1)" in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert "already behind the alias (chunks -> chunks_g1)" in again.stdout, again.stderr[-2000:]
