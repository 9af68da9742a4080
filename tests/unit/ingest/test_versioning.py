"""Versions and point ids are deterministic, and the content hash changes with everything indexed."""

from __future__ import annotations

import uuid

import pytest

from ragplane_ingest.chunking import ChunkingParams
from ragplane_ingest.versioning import chunk_id, content_hash, event_key

pytestmark = pytest.mark.unit

BASE = dict(parser_version="1", tokenizer="all-MiniLM-L6-v2", title="T", source="a.md", metadata={"k": 1, "j": [1]})


def test_content_hash_is_deterministic_and_independent_of_metadata_key_order():
    first = content_hash("text", ChunkingParams(512, 50), **BASE)
    again = content_hash("text", ChunkingParams(512, 50), **{**BASE, "metadata": {"j": [1], "k": 1}})
    assert first == again and len(first) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"text": "text!"},
        {"params": ChunkingParams(256, 50)},
        {"params": ChunkingParams(512, 40)},
        {"parser_version": "2"},
        {"tokenizer": "other"},
        {"title": "U"},
        {"source": "b.md"},
        {"metadata": {"k": 2}},
    ],
)
def test_content_hash_changes_with_anything_the_index_holds(change):
    args = {"text": "text", "params": ChunkingParams(512, 50), **BASE}
    changed = {**args, **change}
    assert content_hash(args.pop("text"), args.pop("params"), **args) != content_hash(
        changed.pop("text"), changed.pop("params"), **changed
    )


def test_chunk_ids_are_deterministic_uuids_unique_per_tenant_document_and_index():
    assert chunk_id("t", "doc", 0) == chunk_id("t", "doc", 0)
    assert uuid.UUID(chunk_id("t", "doc", 0)).version == 5
    ids = {chunk_id(t, d, i) for t in ("t1", "t2") for d in ("a", "b", "a/b") for i in range(3)}
    assert len(ids) == 18


def test_chunk_id_separator_prevents_ambiguous_concatenation():
    assert chunk_id("ab", "c", 1) != chunk_id("a", "bc", 1)


def test_event_key_is_tenant_slash_doc_id():
    assert event_key("acme", "dir/a.md") == "acme/dir/a.md"
