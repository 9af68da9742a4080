"""The status consumer: IndexedEvents from the index writer update the document registry.

Runs as a ConsumerRunner member of its own group. Applying an event is idempotent and ignores events of a
sequence older than the document's current one, so replays and duplicates change nothing. An event that
can never be applied (no tenant, no doc_id, no sequence, unknown outcome) is a poison message: it goes to
the DLQ and the consumer goes on.
"""

from __future__ import annotations

from ragplane.runtime.auth import validate_tenant
from ragplane.runtime.kafka import Envelope, PoisonMessage
from ragplane.runtime.logs import get_logger
from ragplane.v1 import events_pb2
from ragplane_ingest import metrics
from ragplane_ingest.registry import Registry

log = get_logger(__name__)

_OUTCOMES = {
    events_pb2.INDEX_OUTCOME_INDEXED: "INDEXED",
    events_pb2.INDEX_OUTCOME_PARTIAL: "PARTIAL",
    events_pb2.INDEX_OUTCOME_DELETED: "DELETED",
    events_pb2.INDEX_OUTCOME_STALE: "STALE",
    events_pb2.INDEX_OUTCOME_FAILED: "FAILED",
}


class StatusUpdater:
    """Handler of ``ragplane.indexed.v1`` batches."""

    def __init__(self, store: Registry) -> None:
        self._registry = store

    async def handle(self, batch: list[Envelope[events_pb2.IndexedEvent]]) -> None:
        """Apply every event of the batch (in order); returns when the registry holds the result."""
        for envelope in batch:
            await self.apply(envelope.message)

    async def apply(self, event: events_pb2.IndexedEvent) -> str:
        """Apply one event; returns 'applied', 'stale' or 'ignored'.

        Raises:
            PoisonMessage: the event can never be applied.
            Unavailable: Redis is down (retriable).
        """
        outcome = _OUTCOMES.get(event.outcome)
        if outcome is None:
            raise PoisonMessage(f"IndexedEvent with unknown outcome {event.outcome}")
        if not event.doc_id:
            raise PoisonMessage("IndexedEvent without doc_id")
        try:
            validate_tenant(event.tenant)
        except ValueError as exc:
            raise PoisonMessage(f"IndexedEvent with a bad tenant: {exc}") from None
        if event.version.sequence == 0:
            raise PoisonMessage(f"IndexedEvent for {event.doc_id!r} without a version sequence")
        if outcome == "STALE":
            # The index writer skipped a version because a newer one is in place: nothing changes here.
            result = "ignored"
        else:
            result = await self._registry.apply_indexed(
                event.tenant,
                event.doc_id,
                sequence=event.version.sequence,
                content_hash=event.version.content_hash,
                outcome=outcome,
                indexed_chunks=event.indexed_chunks,
                total_chunks=event.total_chunks,
                reason=event.reason,
            )
        metrics.STATUS_EVENTS.labels(outcome.lower(), result).inc()
        log.debug("status event", doc_id=event.doc_id, outcome=outcome, sequence=event.version.sequence, result=result)
        return result
