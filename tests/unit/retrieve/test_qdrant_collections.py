"""The pure rules of the Qdrant collection layout: generation names, replication checks, version parsing."""

from __future__ import annotations

import pytest

from ragplane_retrieve.store.qdrant_collections import (
    Replication,
    StoreIncompatible,
    check_server_version,
    generation_name,
    generation_of,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("alias", "collection", "generation"),
    [
        ("chunks", "chunks_g1", 1),
        ("chunks", "chunks_g12", 12),
        ("chunks", "chunks", 0),
        # an alias that itself ends like a generation is still the plain collection of an old deployment
        ("chunks_g2", "chunks_g2", 0),
        ("chunks_g2", "chunks_g2_g3", 3),
        ("chunks", "chunks_gx", 0),
        ("chunks", "other_g4", 0),
    ],
)
def test_generation_of_reads_only_the_alias_own_scheme(alias, collection, generation):
    assert generation_of(alias, collection) == generation


def test_generation_names_round_trip():
    assert generation_of("a", generation_name("a", 7)) == 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replication_factor": 2, "write_consistency": 3}, "write_consistency must be between 1 and"),
        ({"write_consistency": 0}, "write_consistency must be between 1 and"),
        ({"shards": -1}, "shards must be >= 0"),
        ({"replication_factor": 0}, "replication_factor must be >= 1"),
        ({"write_ordering": "eventual"}, "write_ordering must be one of weak, medium, strong"),
    ],
)
def test_replication_refuses_impossible_settings_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Replication(**kwargs)


def test_zero_shards_leaves_the_count_to_the_server():
    assert Replication().collection_params()["shard_number"] is None
    assert Replication(shards=3).collection_params()["shard_number"] == 3
    assert Replication(shards=3).collection_params(shards=1, on_disk_payload=False) == {
        "shard_number": 1,
        "replication_factor": 2,
        "write_consistency_factor": 1,
        "on_disk_payload": False,
    }


@pytest.mark.parametrize("version", ["1.19.0", "v1.19.0", "1.20.3-dev", "1.100.0"])
def test_versions_at_or_above_the_floor_pass(version):
    assert check_server_version(version, "here") == version


@pytest.mark.parametrize("version", ["1.18.9", "1.9.99", "0.99.0"])
def test_older_versions_are_refused_numerically_not_as_text(version):
    with pytest.raises(StoreIncompatible, match=f"version {version}, older than the 1.19.0"):
        check_server_version(version, "here")
