"""Chunk <-> point payload conversion (one layout for every backend).

Payload keys: tenant, doc_id, chunk_id, content_hash, sequence, chunk_index, page, section_path, char_start,
char_end, source, title, metadata (the caller's Struct as a JSON object), flags, text; and ``version_state``
("writing") while the point's version is incomplete (removed when it is complete).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

from ragplane.v1 import common_pb2, events_pb2
from ragplane_retrieve.model import VERSION_STATE, WRITING, PointRecord, Sparse, point_id


def chunk_payload(
    tenant: str, version: common_pb2.DocumentVersion, chunk: common_pb2.Chunk, doc_id: str
) -> dict[str, Any]:
    prov = chunk.provenance
    return {
        "tenant": tenant,
        "doc_id": doc_id,
        "chunk_id": chunk.chunk_id,
        "content_hash": version.content_hash,
        "sequence": int(version.sequence),
        "chunk_index": int(prov.chunk_index),
        "page": int(prov.page),
        "section_path": list(prov.section_path),
        "char_start": int(prov.char_start),
        "char_end": int(prov.char_end),
        "source": prov.source,
        "title": prov.title,
        "metadata": _integral(json_format.MessageToDict(prov.metadata)) if prov.HasField("metadata") else {},
        "flags": list(chunk.flags),
        "text": chunk.text,
    }


def _integral(value: Any) -> Any:
    """Struct numbers are doubles; store integral ones as integers so that integer matches find them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def to_points(event: events_pb2.VectorsEvent, *, writing: bool = False) -> list[PointRecord]:
    """The points of one UPSERT VectorsEvent; ``writing`` marks them as part of a version not served yet.

    Tenant and doc_id are taken from the event, not the chunks; the point ids depend on the version.
    """
    points = []
    sequence = int(event.version.sequence)
    for embedded in event.chunks:
        chunk = embedded.chunk
        pid = point_id(event.tenant, event.doc_id, sequence, chunk.provenance.chunk_index)
        sparse = Sparse(tuple(embedded.sparse.indices), tuple(embedded.sparse.values))
        payload = chunk_payload(event.tenant, event.version, chunk, event.doc_id)
        if writing:
            payload[VERSION_STATE] = WRITING
        points.append(PointRecord(pid, list(embedded.dense), sparse, payload))
    return points


def to_chunk(point_id_: str, payload: dict[str, Any]) -> common_pb2.Chunk:
    """Rebuild a Chunk with full provenance from a stored payload."""
    metadata = struct_pb2.Struct()
    if payload.get("metadata"):
        metadata.update(payload["metadata"])
    return common_pb2.Chunk(
        chunk_id=payload.get("chunk_id") or point_id_,
        text=payload.get("text", ""),
        provenance=common_pb2.Provenance(
            doc_id=payload.get("doc_id", ""),
            version=common_pb2.DocumentVersion(
                content_hash=payload.get("content_hash", ""), sequence=int(payload.get("sequence", 0))
            ),
            chunk_index=int(payload.get("chunk_index", 0)),
            page=int(payload.get("page", 0)),
            section_path=list(payload.get("section_path") or []),
            char_start=int(payload.get("char_start", 0)),
            char_end=int(payload.get("char_end", 0)),
            source=payload.get("source", ""),
            title=payload.get("title", ""),
            metadata=metadata,
        ),
        flags=list(payload.get("flags") or []),
    )
