"""What the sync and async clients share: turning ``ingest`` sources into uploads, tracking their progress, and
the polling schedule of a wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import grpc

from ragplane.client.files import collect_files
from ragplane.client.types import Document, DocumentResult, ErrorInfo, IngestOutcome, IngestProgress, LocalFile

Source = str | Path | Document | LocalFile
ProgressCallback = Callable[[IngestProgress], None]
# A status poll that failed with these is tried again on the next round (the service restarting, a slow reply).
TRANSIENT_POLL_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
POLL_FIRST_S = 0.25
POLL_MAX_S = 2.0
POLL_CALL_MAX_S = 10.0


def uploads(sources: Iterable[Source], glob: str | None) -> list[Document | LocalFile]:
    """Documents and files to send, in order; paths are walked (``collect_files``).

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: two files that would get the same doc_id, or no source at all.
    """
    items: list[Document | LocalFile] = []
    for source in sources:
        if isinstance(source, Document | LocalFile):
            items.append(source)
            continue
        files, problems = collect_files([source], glob=glob)
        for path, reason in problems:
            if reason == "no such file or directory":
                raise FileNotFoundError(f"{path}: {reason}")
            raise ValueError(f"{path}: {reason}")
        items.extend(files)
    seen: set[str] = set()
    for item in items:
        if item.doc_id in seen:
            raise ValueError(f"doc_id {item.doc_id!r} is given twice")
        seen.add(item.doc_id)
    if not items:
        raise ValueError("nothing to ingest: no document or supported file among the sources")
    return items


class UploadTracker:
    """The results of one upload as they arrive, and the progress events they make."""

    def __init__(self, items: Sequence[Document | LocalFile], progress: ProgressCallback | None) -> None:
        self.results = {item.doc_id: DocumentResult(item.doc_id, item.source) for item in items}
        self.unreadable: dict[str, str] = {}
        self._progress = progress
        self._total = sum(item.size for item in items)
        self._sent = 0
        self._done = 0

    def _report(self, phase: str, done: int, total: int, document: DocumentResult | None = None) -> None:
        if self._progress is not None:
            self._progress(IngestProgress(phase, self._sent, self._total, done, total, document))

    def sent(self, size: int) -> None:
        self._sent += size
        self._report("upload", self._done, len(self.results))

    def received(self, doc_id: str) -> DocumentResult | None:
        """The result to fill in for ``doc_id`` (None for a document this call did not send)."""
        return self.results.get(doc_id)

    def recorded(self, result: DocumentResult) -> None:
        self._done += 1
        self._report("upload", self._done, len(self.results), result)

    def finish_upload(self) -> None:
        for doc_id, reason in self.unreadable.items():
            self.results[doc_id].outcome = IngestOutcome.FAILED
            self.results[doc_id].error = ErrorInfo("", reason)

    def pending(self) -> dict[str, DocumentResult]:
        pending = {doc_id: r for doc_id, r in self.results.items() if r.accepted}
        self._report("index", 0, len(pending))
        return pending

    def indexed(self, done: int, total: int, result: DocumentResult) -> None:
        self._report("index", done, total, result)


class PollSchedule:
    """Rounds of status polls until a deadline: 0.25 s between rounds, growing by half up to 2 s."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._interval = POLL_FIRST_S

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def call_timeout(self) -> float:
        return min(POLL_CALL_MAX_S, self.left())

    def next_wait(self) -> float:
        wait = min(self._interval, max(0.0, self.left()))
        self._interval = min(POLL_MAX_S, self._interval * 1.5)
        return wait
