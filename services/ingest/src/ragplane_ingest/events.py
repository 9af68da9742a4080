"""The Kafka payloads ingest produces: ChunksEvent batches of one document version, and deletes."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from ragplane.v1 import common_pb2, events_pb2


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def upsert_events(
    tenant: str, doc_id: str, version: common_pb2.DocumentVersion, chunks: list[common_pb2.Chunk], batch_chunks: int
) -> list[events_pb2.ChunksEvent]:
    """The chunks of one version in batches of ``batch_chunks``, each with its BatchPosition."""
    count = max(1, -(-len(chunks) // batch_chunks))
    produced_at = _now()
    events = []
    for index in range(count):
        events.append(
            events_pb2.ChunksEvent(
                tenant=tenant,
                doc_id=doc_id,
                version=version,
                operation=events_pb2.DOCUMENT_OPERATION_UPSERT,
                chunks=chunks[index * batch_chunks : (index + 1) * batch_chunks],
                batch=events_pb2.BatchPosition(index=index, count=count, total_chunks=len(chunks)),
                produced_at=produced_at,
            )
        )
    return events


def delete_event(tenant: str, doc_id: str, version: common_pb2.DocumentVersion) -> events_pb2.ChunksEvent:
    """A deletion of every chunk of the document, ordered by its own (newer) version."""
    return events_pb2.ChunksEvent(
        tenant=tenant,
        doc_id=doc_id,
        version=version,
        operation=events_pb2.DOCUMENT_OPERATION_DELETE,
        batch=events_pb2.BatchPosition(index=0, count=1, total_chunks=0),
        produced_at=_now(),
    )
