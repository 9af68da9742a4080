"""What the server store asks a Qdrant cluster for: replication, the alias over generation 1, write ordering, and
a version floor.

The real qdrant-client talks real HTTP to ``support.fake_qdrant.RecordingQdrant``, a tiny server that records each
request's JSON body (no Qdrant server binary exists here, and the client's local mode drops shard_number,
replication_factor, write_consistency_factor, on_disk_payload and the write ordering). The store is built from
the settings as the service builds it; the last test starts the retrieve service as a process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from support.fake_qdrant import RecordingQdrant

from ragplane.runtime.settings import load_settings
from ragplane_retrieve.app import build_store
from ragplane_retrieve.config import Settings
from ragplane_retrieve.model import Condition
from ragplane_retrieve.store.qdrant_collections import MIN_SERVER_VERSION, StoreIncompatible, switch_alias
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.integration
ALIAS = "ragplane_chunks"


def store_for(server: RecordingQdrant, **environ: str) -> QdrantServerStore:
    settings = load_settings(
        Settings, {"RAGPLANE_RETRIEVE_STORE": "qdrant", "RAGPLANE_QDRANT_URL": server.url, **environ}
    )
    store = build_store(settings)
    assert isinstance(store, QdrantServerStore)
    return store


def opened(server: RecordingQdrant, **environ: str) -> QdrantServerStore:
    store = store_for(server, **environ)
    store.open()
    return store


def test_a_first_start_creates_generation_1_with_the_configured_replication_and_then_the_alias():
    with RecordingQdrant() as server:
        store = opened(
            server,
            RAGPLANE_QDRANT_SHARDS="6",
            RAGPLANE_QDRANT_REPLICATION_FACTOR="3",
            RAGPLANE_QDRANT_WRITE_CONSISTENCY="2",
            RAGPLANE_QDRANT_ON_DISK_PAYLOAD="false",
        )
        store.close()
    [create] = server.sent("PUT", f"/collections/{ALIAS}_g1")
    body = create.body
    assert (
        body["shard_number"],
        body["replication_factor"],
        body["write_consistency_factor"],
        body["on_disk_payload"],
    ) == (6, 3, 2, False)
    assert body["vectors"] == {"dense": {"size": 384, "distance": "Cosine"}}
    assert body["sparse_vectors"] == {"sparse": {"modifier": "idf"}}
    assert body["metadata"]["ragplane"] | {"created_at": "-"} == {
        "alias": ALIAS,
        "generation": 1,
        "created_at": "-",
        "dense": {"size": 384, "distance": "cosine"},
        "sparse": {"modifier": "idf"},
    }
    [state] = server.sent("PUT", f"/collections/{ALIAS}_state")
    assert (state.body["shard_number"], state.body["replication_factor"], state.body["write_consistency_factor"]) == (
        1,
        3,
        2,
    )
    [alias] = server.sent("POST", "/collections/aliases")
    assert alias.body == {"actions": [{"create_alias": {"collection_name": f"{ALIAS}_g1", "alias_name": ALIAS}}]}
    # The alias appears only once generation 1 is complete: every payload index was built before it.
    order = server.requests.index(alias)
    g1_indexes = [i for i, r in enumerate(server.requests) if r.path == f"/collections/{ALIAS}_g1/index"]
    assert len(g1_indexes) >= 8 and max(g1_indexes) < order
    assert {r.body["field_name"] for r in server.requests if r.path == f"/collections/{ALIAS}_g1/index"} >= {
        "tenant",
        "doc_id",
        "sequence",
    }
    assert (store.generation_collection, store.generation, store.server_version) == (f"{ALIAS}_g1", 1, "1.20.3")


def test_defaults_replicate_every_shard_twice_and_leave_the_shard_count_to_the_server():
    with RecordingQdrant() as server:
        opened(server).close()
    body = server.sent("PUT", f"/collections/{ALIAS}_g1")[0].body
    assert (body.get("shard_number"), body["replication_factor"], body["write_consistency_factor"]) == (None, 2, 1)
    assert body["on_disk_payload"] is True


def test_writes_go_through_the_alias_with_the_configured_ordering(make_point, make_unit):
    rng = np.random.default_rng(1)
    with RecordingQdrant() as server:
        store = opened(server, RAGPLANE_QDRANT_WRITE_ORDERING="strong")
        store.upsert([make_point("t1", "d1", 0, make_unit(rng))])
        store.delete("t1", [Condition("doc_id", equals="gone")])
        store.promote("t1", "d1", 1)
        store.close()
    writes = [r for r in server.requests if "/points" in r.path]
    assert [(r.method, r.path) for r in writes] == [
        ("PUT", f"/collections/{ALIAS}/points"),
        ("POST", f"/collections/{ALIAS}/points/delete"),
        ("POST", f"/collections/{ALIAS}/points/delete"),
        ("POST", f"/collections/{ALIAS}/points/payload/delete"),
    ]
    assert {(r.query.get("ordering"), r.query.get("wait")) for r in writes} == {("strong", "true")}


def test_default_write_ordering_is_medium(make_point, make_unit):
    with RecordingQdrant() as server:
        store = opened(server)
        store.upsert([make_point("t1", "d1", 0, make_unit(np.random.default_rng(2)))])
        store.close()
    [upsert] = server.sent("PUT", f"/collections/{ALIAS}/points")
    assert upsert.query["ordering"] == "medium"


def test_a_later_start_follows_the_alias_and_creates_nothing():
    with RecordingQdrant(collections={f"{ALIAS}_g4", f"{ALIAS}_state"}, aliases={ALIAS: f"{ALIAS}_g4"}) as server:
        store = opened(server)
        store.close()
    assert not [r for r in server.requests if r.method == "PUT" and r.path.count("/") == 2]
    assert not server.sent("POST", "/collections/aliases")
    assert (store.generation_collection, store.generation) == (f"{ALIAS}_g4", 4)


def test_a_plain_collection_from_before_the_alias_is_served_as_generation_0():
    with RecordingQdrant(collections={ALIAS, f"{ALIAS}_state"}) as server:
        store = opened(server)
        store.close()
    assert not server.sent("PUT", f"/collections/{ALIAS}_g1")
    assert not server.sent("POST", "/collections/aliases")
    assert (store.generation_collection, store.generation) == (ALIAS, 0)


def test_replicas_starting_together_end_on_one_generation():
    errors: list[BaseException] = []

    def start(store: QdrantServerStore) -> None:
        try:
            store.open()
        except BaseException as exc:  # reported below with the store's view
            errors.append(exc)

    with RecordingQdrant() as server:
        stores = [store_for(server) for _ in range(4)]
        threads = [threading.Thread(target=start, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for s in stores:
            s.close()
    assert not errors, [f"{type(e).__name__}: {e} <- {e.__cause__!r}" for e in errors]
    assert {s.generation_collection for s in stores} == {f"{ALIAS}_g1"}
    assert server.collections == {f"{ALIAS}_g1", f"{ALIAS}_state"}
    assert server.aliases == {ALIAS: f"{ALIAS}_g1"}


def test_an_alias_created_by_another_replica_between_two_looks_is_followed():
    def other_replica_finishes(server: RecordingQdrant, request) -> None:
        # After this replica found no alias, another one creates generation 1 and the alias.
        if request.path == f"/collections/{ALIAS}/exists" and not server.aliases:
            server.collections.add(f"{ALIAS}_g1")
            server.aliases[ALIAS] = f"{ALIAS}_g1"

    with RecordingQdrant(before=other_replica_finishes) as server:
        store = opened(server)
        store.close()
    assert (store.generation_collection, store.generation) == (f"{ALIAS}_g1", 1)
    assert not server.sent("PUT", f"/collections/{ALIAS}_g1")


@pytest.mark.parametrize("old", ["1.18.2", "1.10.0", "0.11.7"])
def test_a_server_older_than_the_minimum_is_refused_before_anything_is_created(old):
    minimum = ".".join(map(str, MIN_SERVER_VERSION))
    with RecordingQdrant(version=old) as server:
        store = store_for(server)
        with pytest.raises(StoreIncompatible) as refused:
            store.open()
    message = str(refused.value)
    assert old in message and minimum in message and "IDF" in message, message
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/")]


@pytest.mark.parametrize("version", [None, "nightly"])
def test_a_server_that_hides_its_version_is_refused(version):
    with RecordingQdrant(version=version) as server, pytest.raises(StoreIncompatible, match="readable version"):
        store_for(server).open()


@pytest.mark.parametrize("version", ["1.19.0", "1.20.3", "2.0.0"])
def test_the_minimum_and_newer_servers_are_accepted(version):
    with RecordingQdrant(version=version) as server:
        opened(server).close()
    assert server.aliases == {ALIAS: f"{ALIAS}_g1"}


def test_the_retrieve_service_refuses_to_start_on_an_old_server_saying_why(tmp_path):
    with RecordingQdrant(version="1.13.4") as server:
        env = {
            "RAGPLANE_RETRIEVE_STORE": "qdrant",
            "RAGPLANE_QDRANT_URL": server.url,
            "RAGPLANE_RETRIEVE_WRITER": "false",
            "RAGPLANE_ALLOW_DEV_KEY": "true",
            "RAGPLANE_GRPC_LISTEN": "127.0.0.1:0",
            "RAGPLANE_METRICS_LISTEN": "127.0.0.1:0",
            "RAGPLANE_DATA_DIR": str(tmp_path),
        }
        done = subprocess.run(
            [sys.executable, "-m", "ragplane_retrieve"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert "qdrant at http://127.0.0.1" in done.stderr and "version 1.13.4, older than the 1.19.0" in done.stderr, (
        done.stderr[-3000:]
    )


def test_switching_the_alias_is_one_request_that_deletes_and_creates_it():
    with RecordingQdrant(
        collections={f"{ALIAS}_g1", f"{ALIAS}_g2", f"{ALIAS}_state"}, aliases={ALIAS: f"{ALIAS}_g1"}
    ) as server:
        store = opened(server)
        switch_alias(store._call, ALIAS, f"{ALIAS}_g2")
        store.close()
    [switch] = server.sent("POST", "/collections/aliases")
    assert switch.body == {
        "actions": [
            {"delete_alias": {"alias_name": ALIAS}},
            {"create_alias": {"collection_name": f"{ALIAS}_g2", "alias_name": ALIAS}},
        ]
    }
    assert server.aliases == {ALIAS: f"{ALIAS}_g2"}
