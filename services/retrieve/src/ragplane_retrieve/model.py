"""Domain types of the retrieve service, independent of protobuf and of the store backend."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

DENSE = "dense"
SPARSE = "sparse"
DIMENSIONS = 384

# Namespace of the deterministic ids this service derives itself (doc-state points, non-UUID chunk ids).
ID_NAMESPACE = uuid.UUID("6f1c1a52-8d0e-4a43-9d7c-3f0f2b6a9e11")

# Chunk points of a version still being written carry VERSION_STATE = WRITING; the writer removes the mark
# when the version is complete (and deletes the document's other versions in the same step), and searches
# skip marked points: a reader sees exactly one complete version of each document.
VERSION_STATE = "version_state"
WRITING = "writing"
_SEPARATOR = "\x1f"

Scalar = str | int | float | bool
SearchMode = Literal["hybrid", "dense", "sparse"]


@dataclass(frozen=True)
class Range:
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class Condition:
    """One condition on a payload key: exactly one of ``equals``, ``any_of``, ``range``; ``negate`` inverts it."""

    key: str
    equals: Scalar | None = None
    any_of: tuple[Scalar, ...] | None = None
    range: Range | None = None
    negate: bool = False


# Served chunks only: not those of a version still being written (or of one that never completed).
SERVED = Condition(VERSION_STATE, equals=WRITING, negate=True)


@dataclass(frozen=True)
class Sparse:
    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)


@dataclass(frozen=True)
class PointRecord:
    """A chunk as a store point: deterministic id, both vectors, the payload."""

    id: str
    dense: list[float]
    sparse: Sparse
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchQuery:
    tenant: str
    mode: SearchMode
    top_k: int
    dense: list[float] | None = None
    sparse: Sparse | None = None
    rrf_k: int = 60
    prefetch_limit: int = 50
    conditions: tuple[Condition, ...] = ()
    tenant_idf: bool = True
    # Exact (brute-force) dense scoring instead of HNSW: for recall measurements.
    exact: bool = False


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class DocState:
    """What the index holds of one document: its newest sequence, and whether that was a deletion."""

    tenant: str
    doc_id: str
    sequence: int
    content_hash: str = ""
    deleted: bool = False
    total_chunks: int = 0
    complete: bool = False


@dataclass
class TenantState:
    tenant: str
    index_version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def point_id(tenant: str, doc_id: str, sequence: int, chunk_index: int) -> str:
    """The store id of one chunk of one version of a document.

    The version's sequence is part of the id, so a new version's points never overwrite the served
    version's: both coexist until the new one is complete (see ``VERSION_STATE``). The same tenant, document,
    sequence and position always give the same id, so a replayed event overwrites its own points.
    """
    return str(
        uuid.uuid5(ID_NAMESPACE, f"chunk:{tenant}{_SEPARATOR}{doc_id}{_SEPARATOR}{sequence}{_SEPARATOR}{chunk_index}")
    )


def doc_state_id(tenant: str, doc_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"doc:{tenant}/{doc_id}"))


def tenant_state_id(tenant: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"tenant:{tenant}"))
