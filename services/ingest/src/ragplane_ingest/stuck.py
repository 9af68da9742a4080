"""Documents whose events were lost: the sweep that keeps a document from staying QUEUED or CHUNKED forever.

The local broker keeps topics in memory, so after a broker crash or ``ragplane down``/``up`` the chunks of a
document still on its way are gone while the registry (a durable Redis) still says QUEUED or CHUNKED. Ingest
does not keep a document's text once its events are acknowledged, so it cannot produce them again: a document
with no progress for ``RAGPLANE_INGEST_STUCK_AFTER_S`` becomes FAILED with a reason that tells the caller to
ingest it again (an upload of the same content is then accepted, not UNCHANGED). A deletion needs no text: a
DELETING document's delete event is produced again.

Progress is any registry change: the version registered, its events acknowledged (CHUNKED), a PARTIAL report of
the index writer. Where the broker's start is known (``RAGPLANE_INGEST_EVENTS_LOST_BEFORE``, which ``ragplane up``
sets for its memory-only broker), a document unchanged since before it lost its events for certain and fails at
once. Otherwise the timeout is the only signal, so it must exceed the longest honest wait of a document in the
embed backlog; should a document marked FAILED be indexed after all, its INDEXED event still applies (the same
version), so the mistake heals itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from ragplane.runtime.errors import Unavailable
from ragplane.runtime.logs import get_logger
from ragplane_ingest import metrics, registry

log = get_logger(__name__)

# Documents read per tenant at a time, and batches per pass at most (a pass after a broker loss may meet many).
_BATCH = 500
_MAX_BATCHES = 200


class Redriver(Protocol):
    async def resend_delete(self, tenant: str, doc_id: str, sequence: int) -> bool:
        """Produce a DELETING document's delete event again."""


def lost_reason(stuck_after_s: float) -> str:
    return (
        f"its events were lost before indexing finished (no progress for {stuck_after_s:.0f}s: the broker "
        "restarted or dropped them); ingest the document again"
    )


LOST_WITH_BROKER = (
    "its events were lost before indexing finished (the memory-only broker restarted); ingest the document again"
)


class StuckDocuments:
    """Finds documents with no progress past ``stuck_after_s`` once at start and then every ``interval_s``."""

    def __init__(
        self,
        store: registry.Registry,
        redriver: Redriver,
        *,
        stuck_after_s: float,
        interval_s: float,
        lost_before: float = 0.0,
    ) -> None:
        self._registry = store
        self._redriver = redriver
        self._stuck_after_s = stuck_after_s
        self._interval_s = interval_s
        # Documents unchanged since this time lost their events for certain (the broker started after it).
        self._lost_before = lost_before
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, now: float | None = None) -> dict[str, int]:
        """One pass over every document stuck at the cutoff (in batches until none is left); returns how many
        documents were failed and how many deletions were sent again."""
        timed_out = (time.time() if now is None else now) - self._stuck_after_s
        cutoff = max(timed_out, self._lost_before)
        reason = lost_reason(self._stuck_after_s) if cutoff == timed_out else LOST_WITH_BROKER
        counts = {"failed": 0, "deletion_resent": 0}
        for _ in range(_MAX_BATCHES):
            found = await self._registry.in_flight_since(cutoff, limit=_BATCH)
            # Each document handled leaves the set or is re-scored past the cutoff; one whose deletion could not
            # be sent stays, so a batch that moved nothing ends the pass.
            moved = 0
            for tenant, record in found:
                moved += await self._handle(tenant, record, cutoff, reason, counts)
            if not moved:
                break
        for action, count in counts.items():
            if count:
                metrics.STUCK.labels(action).inc(count)
        return counts

    async def _handle(
        self, tenant: str, record: registry.DocumentRecord, cutoff: float, reason: str, counts: dict[str, int]
    ) -> int:
        """Fail a stuck upsert or send a deletion again; 1 when the document left the batch's reach, else 0."""
        if record.state == registry.DELETING:
            try:
                if await self._redriver.resend_delete(tenant, record.doc_id, record.sequence):
                    counts["deletion_resent"] += 1
                return 1
            except Unavailable as exc:  # tried again on the next pass; the upserts are still looked at
                log.warning("deletion not sent again", tenant=tenant, doc_id=record.doc_id, error=str(exc))
                return 0
        outcome = await self._registry.give_up(tenant, record.doc_id, cutoff=cutoff, reason=reason)
        if outcome == "failed":
            counts["failed"] += 1
            log.warning(
                "document stuck: marked failed",
                tenant=tenant,
                doc_id=record.doc_id,
                state=record.state,
                sequence=record.sequence,
            )
        return 1

    def start(self) -> None:
        """Run the sweep in the background on the running event loop (the first pass at once)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ingest-stuck-documents")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        adopted = False
        while True:
            try:
                if not adopted:
                    await self._registry.adopt_in_flight()
                    adopted = True
                counts = await self.sweep()
                if any(counts.values()):
                    log.info("stuck documents", **counts)
            except Unavailable as exc:
                log.warning("stuck-document sweep skipped", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - the sweep must outlive a bad pass
                log.error("stuck-document sweep failed", exc_info=exc)
            await asyncio.sleep(self._interval_s)
