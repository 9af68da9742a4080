"""The guardrail's document scan at ingest, and what its verdicts do to chunks.

BLOCK drops the chunk, REDACT replaces its text with the redacted text (a redaction that leaves no text drops
it), MARK keeps it with the findings as flags. When no scan can run, chunks are kept and flagged "unscanned"
(or the document fails, if the scan is required): a chunk is never passed on as if it had been scanned.
Retrieve holds unscanned chunks back from searches until a rescan replaces them (uploading the document again
scans it, although its content is unchanged). Every scan call runs on the server's own deadline
(RAGPLANE_INGEST_SCAN_TIMEOUT_S), not the client's: a caller cannot cut a scan short.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from ragplane.runtime.clients import service_channel
from ragplane.runtime.logs import get_logger
from ragplane.runtime.retry import Backoff, retry_async
from ragplane.runtime.settings import CommonSettings
from ragplane.v1 import common_pb2, guardrail_pb2, guardrail_pb2_grpc

log = get_logger(__name__)

UNSCANNED = "unscanned"
REDACTED = "redacted"
MARKED = "guardrail.mark"
_ALLOW = common_pb2.GUARDRAIL_ACTION_ALLOW
_MARK = common_pb2.GUARDRAIL_ACTION_MARK
_REDACT = common_pb2.GUARDRAIL_ACTION_REDACT
_BLOCK = common_pb2.GUARDRAIL_ACTION_BLOCK
_RETRIABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


class ScanUnavailable(Exception):
    """The scan could not run (guardrail down, too slow, or it answered something unusable)."""


@dataclass
class ScanResult:
    """Chunks that go on (text and flags set), and how many the scan blocked or marked."""

    kept: list[common_pb2.Chunk]
    blocked: int = 0
    marked: int = 0
    unscanned: bool = False

    @property
    def flagged(self) -> int:
        return self.blocked + self.marked


def apply_verdicts(chunks: list[common_pb2.Chunk], verdicts: list[common_pb2.GuardrailVerdict]) -> ScanResult:
    """Apply one verdict per chunk (same order).

    Raises:
        ScanUnavailable: when the counts differ (the scan's answer cannot be matched to the chunks).
    """
    if len(verdicts) != len(chunks):
        raise ScanUnavailable(f"guardrail returned {len(verdicts)} verdicts for {len(chunks)} chunks")
    result = ScanResult(kept=[])
    for chunk, verdict in zip(chunks, verdicts, strict=True):
        action = verdict.action
        # A redaction that leaves nothing is as good as a block: an empty chunk cannot be embedded.
        if action == _BLOCK or (action == _REDACT and not verdict.redacted_text.strip()):
            result.blocked += 1
            continue
        kept = common_pb2.Chunk()
        kept.CopyFrom(chunk)
        if action in (_MARK, _REDACT):
            flags = sorted({finding.category for finding in verdict.findings if finding.category})
            if action == _REDACT:
                kept.text = verdict.redacted_text
                flags.append(REDACTED)
            kept.flags.extend(flags or [MARKED])
            result.marked += 1
        elif action != _ALLOW:
            # An unset action is not a decision: say so rather than pass the chunk as clean.
            kept.flags.append(UNSCANNED)
            result.unscanned = True
        result.kept.append(kept)
    return result


def mark_unscanned(chunks: list[common_pb2.Chunk]) -> ScanResult:
    """Keep every chunk, flagged as not scanned."""
    kept = []
    for chunk in chunks:
        copy = common_pb2.Chunk()
        copy.CopyFrom(chunk)
        copy.flags.append(UNSCANNED)
        kept.append(copy)
    return ScanResult(kept=kept, unscanned=True)


class GuardrailScanner:
    """Calls GuardrailService.ScanDocument in batches, each with a deadline.

    The channel is made in ``open()``: a grpc.aio channel belongs to the event loop it was made on.
    """

    def __init__(
        self,
        address: str,
        service_token: str,
        *,
        timeout_s: float,
        batch_chunks: int,
        attempts: int = 2,
        settings: CommonSettings | None = None,
    ) -> None:
        self._address = address
        self._service_token = service_token
        self._timeout_s = timeout_s
        self._batch = batch_chunks
        self._attempts = attempts
        self._settings = settings
        self._channel: grpc.aio.Channel | None = None
        self._stub: guardrail_pb2_grpc.GuardrailServiceStub | None = None

    def open(self) -> None:
        """Make the channel and stub (no I/O: the channel connects on its first call)."""
        self._channel = service_channel(self._address, self._service_token, self._timeout_s, settings=self._settings)
        self._stub = guardrail_pb2_grpc.GuardrailServiceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def scan(self, doc_id: str, chunks: list[common_pb2.Chunk]) -> ScanResult:
        """Scan all chunks of a document and apply the verdicts.

        Raises:
            ScanUnavailable: when any batch cannot be scanned.
        """
        verdicts: list[common_pb2.GuardrailVerdict] = []
        for offset in range(0, len(chunks), self._batch):
            batch = chunks[offset : offset + self._batch]
            response = await self._call(guardrail_pb2.ScanDocumentRequest(doc_id=doc_id, chunks=batch))
            if len(response.verdicts) != len(batch):
                raise ScanUnavailable(f"guardrail returned {len(response.verdicts)} verdicts for {len(batch)} chunks")
            verdicts.extend(v.verdict for v in response.verdicts)
        return apply_verdicts(chunks, verdicts)

    async def _call(self, request: guardrail_pb2.ScanDocumentRequest) -> guardrail_pb2.ScanDocumentResponse:
        # Each call gets the server's own scan timeout, never a share of the client's deadline: a client that
        # could shorten the scan could make it fail and have its chunks go on unscanned.
        try:
            assert self._stub is not None, "GuardrailScanner.open() first"
            stub = self._stub
            return await retry_async(
                lambda: stub.ScanDocument(request, timeout=self._timeout_s),
                Backoff(base_s=0.2, cap_s=1.0, attempts=self._attempts),
                retriable=lambda exc: isinstance(exc, grpc.RpcError) and exc.code() in _RETRIABLE,
                what="guardrail ScanDocument",
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("document scan failed", code=exc.code().name)
            raise ScanUnavailable(f"{exc.code().name}: {exc.details()}") from exc
