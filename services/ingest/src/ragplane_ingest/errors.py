"""Ingest's document-level failures. Each keeps a short ``reason`` for the registry and the CLI summary."""

from __future__ import annotations

import grpc

from ragplane.runtime.errors import FailedPrecondition, InvalidArgument, RagplaneError, Unavailable


class UnreadableDocument(InvalidArgument):
    """The document cannot be parsed (corrupt, encrypted, not what its type says)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__("content", f"document {source!r} cannot be read: {reason}")
        self.reason = reason


class EmptyDocument(InvalidArgument):
    """No text to index."""

    def __init__(self, source: str, detail: str = "") -> None:
        super().__init__("content", f"document {source!r} is empty{detail}")
        self.reason = f"empty document{detail}"


class ScanUnavailableError(Unavailable):
    """The document scan is required and could not run."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"document {source!r} was not ingested: guardrail unavailable ({detail})")
        self.reason = "guardrail unavailable"


class AllChunksBlocked(FailedPrecondition):
    """The document scan blocked every chunk: nothing would be indexed."""

    def __init__(self, source: str, count: int) -> None:
        super().__init__(f"document {source!r}: the document scan blocked all {count} chunks")
        self.reason = f"all {count} chunks blocked by the document scan"


class Superseded(RagplaneError):
    """A newer version of the document was registered while this one was being processed."""

    code = grpc.StatusCode.ABORTED

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"document {doc_id!r}: a newer version was submitted concurrently; this one was dropped")
        self.reason = "superseded by a newer version"


def reason_of(exc: BaseException) -> str:
    """The short reason a failure is recorded with."""
    return getattr(exc, "reason", None) or getattr(exc, "message", None) or str(exc)
