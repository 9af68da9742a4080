"""Prometheus metrics of the ingest service (stage latencies use the runtime's STAGE_LATENCY)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Histogram

from ragplane.runtime.telemetry import STAGE_LATENCY

SERVICE = "ingest"

DOCUMENTS = Counter(
    "ragplane_ingest_documents_total",
    "Documents by outcome (accepted, unchanged, failed) and status code.",
    ["outcome", "code"],
)
CHUNKS = Counter("ragplane_ingest_chunks_total", "Chunks produced to the chunks topic.")
FLAGGED = Counter(
    "ragplane_ingest_flagged_chunks_total",
    "Chunks the document scan blocked, marked, or that went on unscanned.",
    ["action"],
)
DOCUMENT_BYTES = Histogram(
    "ragplane_ingest_document_bytes", "Size of ingested documents.", buckets=(1e3, 1e4, 1e5, 1e6, 1e7, 5e7, 1e8)
)
DELETES = Counter("ragplane_ingest_deletes_total", "Document deletions produced.")
STATUS_EVENTS = Counter(
    "ragplane_ingest_status_events_total",
    "IndexedEvents applied to the registry, by outcome and result (applied, stale, ignored).",
    ["outcome", "result"],
)

STUCK = Counter(
    "ragplane_ingest_stuck_documents_total",
    "Documents found with no progress past RAGPLANE_INGEST_STUCK_AFTER_S, by action (failed, deletion_resent).",
    ["action"],
)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time one stage (parse, chunk, scan, produce) into ragplane_stage_duration_seconds."""
    started = time.perf_counter()
    try:
        yield
    finally:
        STAGE_LATENCY.labels(SERVICE, name).observe(time.perf_counter() - started)
