"""The vector store protocol the index writer and the search path use."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import grpc

from ragplane.runtime.context import request_id_var
from ragplane.runtime.errors import Unavailable
from ragplane.runtime.logs import get_logger
from ragplane_retrieve.model import (
    SERVED,
    VERSION_STATE,
    Condition,
    DocState,
    Hit,
    PointRecord,
    Range,
    SearchQuery,
    TenantState,
)

# Payload indexes every backend creates on the chunk points (name -> type), besides the tenant index.
CHUNK_INDEXES = {
    "doc_id": "keyword",
    "sequence": "integer",
    "page": "integer",
    "chunk_index": "integer",
    "source": "keyword",
    "flags": "keyword",
    VERSION_STATE: "keyword",
}
INDEX_TYPES = ("keyword", "integer", "float", "bool")

# Where a chunk sits in its document's listing: (chunk_index, sequence). The sequence orders the chunks of two
# versions that share an index while a new version is being written.
ChunkPosition = tuple[int, int]


log = get_logger(__name__)


class StoreError(Unavailable):
    """The store failed an operation (I/O, a lost server, a lock): retriable.

    The message is what clients see: it names the store and the operation, with the request id, and never the
    backend's own text (hosts, paths, response bodies). That text, ``detail``, is logged here with the request id.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        request_id = request_id_var.get()
        if detail:
            log.warning("vector store call failed", error=message, detail=detail[:2000])
        super().__init__(f"{message} (request_id={request_id})" if request_id else message)


class StoreRejected(StoreError):
    """The store refused the request itself (an HTTP 4xx): the same call would fail again, so not retriable."""

    code = grpc.StatusCode.INTERNAL
    retriable = False


class VectorStore(Protocol):
    """Chunk points (dense + sparse vectors and payload) plus per-document and per-tenant state.

    Every method is synchronous and thread-safe; effects are durable when a write method returns. Every
    chunk operation is scoped to one tenant, which the store adds as a filter condition itself.
    """

    backend: str
    dimensions: int

    def open(self) -> None:
        """Create or load the collections and payload indexes."""

    def close(self) -> None:
        """Flush and release the store."""

    def upsert(self, points: Sequence[PointRecord]) -> None:
        """Insert or replace points by id."""

    def delete(self, tenant: str, conditions: Sequence[Condition]) -> None:
        """Delete the tenant's points matching every condition."""

    def promote(self, tenant: str, doc_id: str, sequence: int) -> None:
        """Serve version ``sequence`` of a document in place of every other version it has.

        Deletes the document's points of other sequences, then removes the "writing" mark from this
        sequence's points; a search of this process sees the old version or the new one, never both.
        """

    def search(self, query: SearchQuery) -> list[Hit]:
        """Dense, sparse or hybrid (RRF in the engine) search within the query's tenant."""

    def scroll_doc(self, tenant: str, doc_id: str, limit: int, after: ChunkPosition | None = None) -> list[Hit]:
        """The first ``limit`` stored chunks of one document in chunk order (score 0), after ``after`` if given."""

    def count(self, tenant: str, conditions: Sequence[Condition] = ()) -> int:
        """Exact number of the tenant's points matching every condition."""

    def doc_states(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], DocState]:
        """Stored state of (tenant, doc_id) pairs; absent documents are left out."""

    def tenant_states(self, tenants: Sequence[str]) -> dict[str, TenantState]:
        """Stored state of tenants; absent tenants get a fresh state (index_version 0)."""

    def save_states(self, docs: Sequence[DocState], tenants: Sequence[TenantState]) -> None:
        """Write document and tenant states (one write)."""

    def count_documents(self, tenant: str) -> int:
        """Documents of the tenant that are indexed or being indexed (deleted ones excluded)."""

    def unindexed_points(self) -> int:
        """Points not yet in a vector index (searched by brute force); 0 where the server manages it."""

    def optimize(self) -> bool:
        """Build vector indexes now (blocking); True if anything changed."""


def parse_metadata_indexes(spec: str) -> dict[str, str]:
    """``key:type,key2:type`` -> {"metadata.key": type}.

    Raises:
        ValueError: naming the bad entry.
    """
    out: dict[str, str] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        key, sep, kind = entry.partition(":")
        if not sep or not key or kind not in INDEX_TYPES:
            raise ValueError(f"entry {entry!r} must be key:type with type one of {', '.join(INDEX_TYPES)}")
        out[f"metadata.{key}"] = kind
    return out


def chunk_position(hit: Hit) -> ChunkPosition:
    """The listing position of a stored chunk."""
    return int(hit.payload.get("chunk_index", 0)), int(hit.payload.get("sequence", 0))


def doc_conditions(doc_id: str, after: ChunkPosition | None) -> list[Condition]:
    """The conditions that select a document's served chunks from ``after``'s chunk index on (so a later page
    scans less)."""
    conditions = [Condition("doc_id", equals=doc_id), SERVED]
    if after is not None:
        conditions.append(Condition("chunk_index", range=Range(gte=after[0])))
    return conditions


def page_in_chunk_order(hits: Sequence[Hit], limit: int, after: ChunkPosition | None) -> list[Hit]:
    """The first ``limit`` hits in chunk order, after ``after`` when given."""
    ordered = sorted(hits, key=chunk_position)
    if after is not None:
        ordered = [hit for hit in ordered if chunk_position(hit) > after]
    return ordered[:limit]


# Points fetched beyond a page, so that chunks of two versions sharing an index rarely need a second fetch.
PAGE_SLACK = 8


def page_by_chunk_index(fetch: Callable[[int], Sequence[Hit]], limit: int, after: ChunkPosition | None) -> list[Hit]:
    """The first ``limit`` hits after ``after`` in chunk order, reading about ``limit`` points.

    Args:
        fetch: the first ``n`` points of the document from ``after``'s chunk index on, ordered by chunk index.

    A full fetch may have cut the points of its last chunk index short (two versions share indexes while one
    is written), so hits at that index count only when everything was fetched; else the fetch doubles.
    """
    want = limit + PAGE_SLACK
    while True:
        hits = list(fetch(want))
        full = len(hits) >= want
        if full:
            last = max(chunk_position(hit)[0] for hit in hits)
            hits = [hit for hit in hits if chunk_position(hit)[0] < last]
        page = page_in_chunk_order(hits, limit, after)
        if len(page) >= limit or not full:
            return page
        want *= 2


def state_payload(doc: DocState) -> dict[str, Any]:
    # "status" repeats "deleted" as a keyword: qdrant-edge 0.9's binding cannot match booleans.
    return {
        "kind": "doc",
        "status": "deleted" if doc.deleted else "live",
        "tenant": doc.tenant,
        "doc_id": doc.doc_id,
        "sequence": doc.sequence,
        "content_hash": doc.content_hash,
        "deleted": doc.deleted,
        "total_chunks": doc.total_chunks,
        "complete": doc.complete,
    }


def doc_state_from(payload: Mapping[str, Any]) -> DocState:
    return DocState(
        payload["tenant"],
        payload["doc_id"],
        int(payload["sequence"]),
        payload.get("content_hash", ""),
        bool(payload.get("deleted", False)),
        int(payload.get("total_chunks", 0)),
        bool(payload.get("complete", False)),
    )
