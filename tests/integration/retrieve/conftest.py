"""Fixtures of the retrieve integration tests."""

from __future__ import annotations

import contextlib
import uuid
from types import SimpleNamespace

import numpy as np
import pytest
from support.servers import serve

from ragplane.runtime.settings import load_settings
from ragplane.v1 import common_pb2, events_pb2, retrieve_pb2_grpc
from ragplane_retrieve.app import RetrieveApp
from ragplane_retrieve.config import Settings
from ragplane_retrieve.model import PointRecord, Sparse
from ragplane_retrieve.writer import IndexWriter


def unit(rng: np.random.Generator, dims: int = 384) -> list[float]:
    v = rng.normal(size=dims)
    return (v / np.linalg.norm(v)).tolist()


def point(
    tenant: str,
    doc_id: str,
    chunk_index: int,
    dense: list[float],
    terms: dict[int, float] | None = None,
    sequence: int = 1,
    **extra,
) -> PointRecord:
    terms = terms or {}
    payload = {
        "tenant": tenant,
        "doc_id": doc_id,
        "chunk_id": "",
        "content_hash": f"h{sequence}",
        "sequence": sequence,
        "chunk_index": chunk_index,
        "page": extra.pop("page", 1),
        "section_path": ["Intro"],
        "char_start": 0,
        "char_end": 10,
        "source": extra.pop("source", "a.txt"),
        "title": extra.pop("title", "A"),
        "metadata": extra.pop("metadata", {}),
        "flags": [],
        "text": extra.pop("text", f"{doc_id} chunk {chunk_index}"),
    }
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


def vectors_event(
    doc_id: str,
    sequence: int,
    indexes: list[int],
    total: int,
    batch: int = 0,
    batches: int = 1,
    tenant: str = "default",
    seed: int = 0,
) -> events_pb2.VectorsEvent:
    rng = np.random.default_rng(seed + sequence * 100)
    event = events_pb2.VectorsEvent(
        tenant=tenant,
        doc_id=doc_id,
        operation=events_pb2.DOCUMENT_OPERATION_UPSERT,
        version=common_pb2.DocumentVersion(content_hash=f"hash{sequence}", sequence=sequence),
        batch=events_pb2.BatchPosition(index=batch, count=batches, total_chunks=total),
    )
    for i in indexes:
        v = rng.normal(size=384)
        chunk = common_pb2.Chunk(
            chunk_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{doc_id}/{i}")),
            text=f"v{sequence} chunk {i}",
            provenance=common_pb2.Provenance(
                doc_id=doc_id, chunk_index=i, page=1, source=f"{doc_id}.txt", version=event.version
            ),
        )
        event.chunks.append(
            events_pb2.EmbeddedChunk(
                chunk=chunk,
                dense=(v / np.linalg.norm(v)).tolist(),
                sparse=common_pb2.SparseVector(indices=[i + 1], values=[1.0]),
            )
        )
    return event


def delete_event(doc_id: str, sequence: int, tenant: str = "default") -> events_pb2.VectorsEvent:
    return events_pb2.VectorsEvent(
        tenant=tenant,
        doc_id=doc_id,
        operation=events_pb2.DOCUMENT_OPERATION_DELETE,
        version=common_pb2.DocumentVersion(sequence=sequence),
    )


@pytest.fixture
def make_events():
    """``vectors(doc_id, sequence, chunk_indexes, total, batch, batches, tenant)`` and ``delete(doc_id, sequence)``."""
    return SimpleNamespace(vectors=vectors_event, delete=delete_event)


@pytest.fixture
def served_with_writer(tmp_path):
    """``served_with_writer(store=None, **settings)``: an async context of (stub, writer), a retrieve server
    without its consumer and an index writer on the server's store."""

    @contextlib.asynccontextmanager
    async def served(store=None, **overrides):
        settings = load_settings(
            Settings,
            {},
            edge_path=str(tmp_path / "s"),
            writer_enabled=False,
            optimize_mode="off",
            **overrides,
        )
        app = RetrieveApp(settings, store)
        async with serve(app, settings) as running:
            yield running.stub(retrieve_pb2_grpc.RetrieveServiceStub), IndexWriter(app.store, None, "unused")

    return served
