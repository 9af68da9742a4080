"""Fixtures of the retrieve integration tests."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from ragplane_retrieve.model import PointRecord, Sparse


def unit(rng: np.random.Generator, dims: int = 384) -> list[float]:
    v = rng.normal(size=dims)
    return (v / np.linalg.norm(v)).tolist()


def point(tenant: str, doc_id: str, chunk_index: int, dense: list[float], terms: dict[int, float] | None = None,
          sequence: int = 1, **extra) -> PointRecord:
    terms = terms or {}
    payload = {"tenant": tenant, "doc_id": doc_id, "chunk_id": "", "content_hash": f"h{sequence}",
               "sequence": sequence, "chunk_index": chunk_index, "page": extra.pop("page", 1),
               "section_path": ["Intro"], "char_start": 0, "char_end": 10, "source": extra.pop("source", "a.txt"),
               "title": extra.pop("title", "A"), "metadata": extra.pop("metadata", {}), "flags": [],
               "text": extra.pop("text", f"{doc_id} chunk {chunk_index}")}
    assert not extra, extra
    pid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{doc_id}/{chunk_index}"))
    items = sorted(terms.items())
    return PointRecord(pid, dense, Sparse(tuple(i for i, _ in items), tuple(v for _, v in items)), payload)


@pytest.fixture
def make_point():
    """Builds a PointRecord with the writer's payload layout."""
    return point


@pytest.fixture
def make_unit():
    """A seeded unit vector from a generator."""
    return unit
