"""One document through ingest: validate -> parse -> chunk -> scan -> version -> produce -> status.

Order of effects for an upsert: a fresh sequence is reserved on arrival -> parse and chunk (and scan) -> the
registry records the new version as QUEUED under that sequence -> every ChunksEvent batch is produced and
acknowledged by the broker -> the registry moves it to CHUNKED -> ACCEPTED. Nothing is reported accepted before
the broker acknowledged it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import re
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from google.protobuf.struct_pb2 import Struct

from ragplane.runtime.errors import InvalidArgument, NotFound, RagplaneError, ResourceExhausted, Unavailable
from ragplane.runtime.kafka import TOPIC_VECTORS, dlq_topic, topic_name, write_purge_marker
from ragplane.runtime.logs import get_logger
from ragplane.runtime.paging import decode_page_token, encode_page_token
from ragplane.v1 import common_pb2, events_pb2
from ragplane_ingest import events, metrics, registry, versioning
from ragplane_ingest.chunking import (
    ChunkingLimits,
    ChunkingParams,
    ChunkSpan,
    TokenCounter,
    chunk_document,
    resolve_params,
)
from ragplane_ingest.config import Settings
from ragplane_ingest.errors import (
    AllChunksBlocked,
    EmptyDocument,
    ScanUnavailableError,
    Superseded,
    UnreadableDocument,
    reason_of,
)
from ragplane_ingest.limits import DocumentLimits, check_document, check_field
from ragplane_ingest.parsing import (
    PARSER_VERSION,
    DocumentFormat,
    ParsedDocument,
    ParseError,
    UnsupportedFormat,
    select_format,
)
from ragplane_ingest.parsing.sandbox import ParseBudget, ParserPool
from ragplane_ingest.quotas import Quotas, TenantQuotas
from ragplane_ingest.scanning import GuardrailScanner, ScanResult, ScanUnavailable, mark_unscanned

log = get_logger(__name__)

ACCEPTED, UNCHANGED = "ACCEPTED", "UNCHANGED"
MAX_DOC_ID_CHARS = 1024
# Every chunk carries the caller's metadata, so it is kept small (events stay well under the broker's limit).
MAX_METADATA_BYTES = 16 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
T = TypeVar("T")


class ChunkProducer(Protocol):
    def send_many(self, topic: str, items: list[tuple[str, Any]], *, timeout_s: float = 30.0) -> None:
        """Produce events in order and return once the broker acknowledged all of them."""

    def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]], timeout_s: float
    ) -> None:
        """Produce one record to ``topic`` (the broker's name) and return once the broker acknowledged it."""


@dataclass(frozen=True)
class DocumentSpec:
    """A document as the caller described it (before validation)."""

    doc_id: str = ""
    source: str = ""
    content_type: str = ""
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    chunk_size: int = 0
    chunk_overlap: int = 0
    size_bytes: int = 0


@dataclass(frozen=True)
class PreparedDocument:
    """A validated document description: its id, parser and chunking settings are settled."""

    doc_id: str
    source: str
    content_type: str
    title: str
    metadata: dict[str, Any]
    format: DocumentFormat
    params: ChunkingParams


@dataclass(frozen=True)
class IngestResult:
    doc_id: str
    source: str
    outcome: str
    content_hash: str
    sequence: int
    chunk_count: int
    flagged_chunks: int = 0


def derive_doc_id(doc_id: str, source: str) -> str:
    """The caller's doc_id, else the source normalised to a forward-slash path without a leading './'."""
    if doc_id:
        return doc_id
    normalized = source.replace("\\", "/")
    while normalized.startswith("./"):
        normalized = normalized[2:]
    return normalized


def validate_doc_id(doc_id: str, field_name: str = "doc_id") -> str:
    """Raises InvalidArgument naming ``field_name`` unless ``doc_id`` is a usable id."""
    if not doc_id.strip():
        raise InvalidArgument(field_name, "must not be empty (set doc_id or source)")
    if len(doc_id) > MAX_DOC_ID_CHARS:
        raise InvalidArgument(field_name, f"must be at most {MAX_DOC_ID_CHARS} characters, but got {len(doc_id)}")
    if _CONTROL.search(doc_id):
        raise InvalidArgument(field_name, f"must not contain control characters, but got {doc_id!r}")
    return doc_id


class _KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class IngestPipeline:
    """The ingest core, independent of gRPC. Methods take the tenant explicitly (from the request context)."""

    def __init__(
        self,
        settings: Settings,
        tokenizer: TokenCounter,
        store: registry.Registry,
        producer: ChunkProducer,
        scanner: GuardrailScanner | None,
        parsers: ParserPool | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self._settings = settings
        # Without a started pool (tools, unit tests) documents are parsed in-process, with the PDF page cap only.
        self._parsers = parsers or ParserPool(ParseBudget(workers=0, max_pdf_pages=settings.max_pdf_pages))
        self._tokenizer = tokenizer
        self._registry = store
        self._producer = producer
        self._scanner = scanner
        self._defaults = ChunkingParams(settings.chunk_size_tokens, settings.chunk_overlap_tokens)
        self._limits = ChunkingLimits(settings.min_chunk_size_tokens, settings.max_chunk_size_tokens)
        self._doc_limits = DocumentLimits.from_settings(settings)
        # The service passes cluster-wide quotas (Redis); without them (tools, tests) they hold per process.
        self.quotas: Quotas = quotas or TenantQuotas(
            settings.tenant_max_concurrent_calls, settings.tenant_bytes_per_minute
        )
        self._locks = _KeyedLocks()
        # Publishes that outlive their RPC (see _finish): stop() awaits them before the clients close.
        self._finishing: set[asyncio.Task[Any]] = set()

    # -- validation ---------------------------------------------------------------------------------

    def prepare(self, spec: DocumentSpec) -> PreparedDocument:
        """Validate a document description before its bytes arrive.

        Raises:
            InvalidArgument: unsupported type (naming the source), bad doc_id, title, source or chunking options.
            ResourceExhausted: the declared size is over the limit.
        """
        doc_id = validate_doc_id(derive_doc_id(spec.doc_id, spec.source), "header.doc_id")
        # Title and source go into every chunk: capped before anything is copied.
        check_field("header.title", spec.title, self._doc_limits.max_title_chars)
        check_field("header.source", spec.source, self._doc_limits.max_source_chars)
        source = spec.source or doc_id
        try:
            fmt = select_format(source, spec.content_type)
        except UnsupportedFormat as exc:
            raise InvalidArgument("header.content_type", str(exc)) from None
        params = resolve_params(spec.chunk_size, spec.chunk_overlap, self._defaults, self._limits)
        metadata_bytes = len(json.dumps(spec.metadata, separators=(",", ":")).encode())
        if metadata_bytes > MAX_METADATA_BYTES:
            raise InvalidArgument(
                "header.metadata", f"must be at most {MAX_METADATA_BYTES} bytes as JSON, but got {metadata_bytes}"
            )
        if spec.size_bytes:
            self.check_size(source, spec.size_bytes)
        return PreparedDocument(doc_id, source, spec.content_type, spec.title, dict(spec.metadata), fmt, params)

    def check_size(self, source: str, size: int) -> None:
        """Raises ResourceExhausted when ``size`` bytes is over the document size limit."""
        limit = self._settings.max_document_bytes
        if size > limit:
            raise ResourceExhausted(
                f"document {source!r} is {size} bytes, over the limit of {limit} bytes "
                "(RAGPLANE_INGEST_MAX_DOCUMENT_BYTES)"
            )

    # -- upsert ---------------------------------------------------------------------------------------

    async def ingest(self, tenant: str, doc: PreparedDocument, data: bytes, sha256: str = "") -> IngestResult:
        """Create or replace one document.

        Returns:
            ACCEPTED (new version produced and acknowledged) or UNCHANGED (same content as the current version).
        Raises:
            RagplaneError: the document failed; readable failures are recorded in the registry with their reason.
        """
        try:
            result = await self._ingest(tenant, doc, data, sha256)
        except RagplaneError as exc:
            metrics.DOCUMENTS.labels("failed", exc.code.name).inc()
            log.info("document failed", doc_id=doc.doc_id, source=doc.source, code=exc.code.name, reason=reason_of(exc))
            raise
        metrics.DOCUMENTS.labels(result.outcome.lower(), "OK").inc()
        return result

    async def _ingest(self, tenant: str, doc: PreparedDocument, data: bytes, sha256: str) -> IngestResult:
        self.check_size(doc.source, len(data))
        if sha256 and hashlib.sha256(data).hexdigest() != sha256.strip().lower():
            raise InvalidArgument("end.sha256", f"does not match the bytes received for {doc.source!r}")
        metrics.DOCUMENT_BYTES.observe(len(data))
        async with self._locks.hold((tenant, doc.doc_id)):
            # The sequence is taken on arrival, not after parsing: across replicas the upload that arrived
            # last wins, even when an earlier one parses more slowly (it is then Superseded).
            sequence = await self._registry.next_sequence(tenant, doc.doc_id)
            try:
                parsed, spans = await self._parse_and_chunk(doc, data)
            except (UnreadableDocument, EmptyDocument) as exc:
                await self._registry.mark_failed(tenant, doc.doc_id, exc.reason, source=doc.source, title=doc.title)
                raise
            title = doc.title or parsed.title or posixpath.basename(doc.source.replace("\\", "/"))
            content_hash = versioning.content_hash(
                parsed.text,
                doc.params,
                parser_version=PARSER_VERSION,
                tokenizer=self._tokenizer.name,
                title=title,
                source=doc.source,
                metadata=doc.metadata,
            )
            current = await self._registry.get(tenant, doc.doc_id)
            if self._unchanged(current, content_hash):
                assert current is not None
                return IngestResult(
                    doc.doc_id,
                    doc.source,
                    UNCHANGED,
                    current.content_hash,
                    current.sequence,
                    current.chunk_count,
                    current.flagged_chunks,
                )
            chunks = self._build_chunks(tenant, doc, parsed, spans, title)
            try:
                scanned = await self._scan(doc, chunks)
            except (ScanUnavailableError, AllChunksBlocked) as exc:
                await self._registry.mark_failed(tenant, doc.doc_id, exc.reason, source=doc.source, title=title)
                raise
            # Once a version is being registered and produced, finish even if the caller goes away, so the
            # registry never keeps a QUEUED version whose events were neither sent nor marked failed.
            return await self._finish(self._publish(tenant, doc, title, content_hash, sequence, scanned))

    async def _finish(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` to its end even if the caller is cancelled; ``drain`` waits for it."""
        task = asyncio.ensure_future(work)
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)
        return await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait until every publish that outlived its RPC has finished (before the producer and registry close)."""
        while self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)

    def _unchanged(self, current: registry.DocumentRecord | None, content_hash: str) -> bool:
        if current is None or current.content_hash != content_hash:
            return False
        if current.state not in (registry.CHUNKED, registry.INDEXED):
            return False
        # A version that went on unscanned is redone once a scan is possible.
        return not (current.unscanned and self._scanner is not None)

    async def _parse_and_chunk(self, doc: PreparedDocument, data: bytes) -> tuple[ParsedDocument, list[ChunkSpan]]:
        if not data or data.isspace():
            raise EmptyDocument(doc.source)
        with metrics.stage("parse"):
            try:
                # Within the time and memory budget, in a worker process: a hostile file cannot stall this loop.
                parsed = await self._parsers.parse(data, doc.format, doc.content_type, self._doc_limits.zip)
            except ParseError as exc:
                raise UnreadableDocument(doc.source, exc.reason) from None
            except Exception as exc:  # noqa: BLE001 - a parser bug on odd input fails that document, not the call
                log.error("parser failed", doc_id=doc.doc_id, format=doc.format.name, exc_info=exc)
                raise UnreadableDocument(
                    doc.source, f"the {doc.format.name} parser failed ({type(exc).__name__})"
                ) from None
        return await asyncio.to_thread(self._check_and_chunk, doc, parsed)

    def _check_and_chunk(self, doc: PreparedDocument, parsed: ParsedDocument) -> tuple[ParsedDocument, list[ChunkSpan]]:
        if parsed.is_empty():
            detail = " (no extractable text; a scanned PDF needs OCR first)" if doc.format.name == "pdf" else ""
            raise EmptyDocument(doc.source, detail)
        check_document(doc.source, parsed, self._doc_limits)
        with metrics.stage("chunk"):
            spans = chunk_document(
                parsed, self._tokenizer, doc.params, max_chunks=self._doc_limits.max_chunks, source=doc.source
            )
        if not spans:
            raise EmptyDocument(doc.source)
        return parsed, spans

    def _build_chunks(
        self, tenant: str, doc: PreparedDocument, parsed: ParsedDocument, spans: list[ChunkSpan], title: str
    ) -> list[common_pb2.Chunk]:
        metadata = Struct()
        metadata.update(doc.metadata)
        chunks = []
        for index, span in enumerate(spans):
            provenance = common_pb2.Provenance(
                doc_id=doc.doc_id,
                chunk_index=index,
                page=span.page,
                section_path=list(span.section_path),
                char_start=span.start,
                char_end=span.end,
                source=doc.source,
                title=title,
            )
            provenance.metadata.CopyFrom(metadata)
            chunks.append(
                common_pb2.Chunk(
                    chunk_id=versioning.chunk_id(tenant, doc.doc_id, index),
                    text=parsed.text[span.start : span.end],
                    provenance=provenance,
                )
            )
        return chunks

    async def _scan(self, doc: PreparedDocument, chunks: list[common_pb2.Chunk]) -> ScanResult:
        if self._scanner is None:
            result = mark_unscanned(chunks)
        else:
            with metrics.stage("scan"):
                try:
                    result = await self._scanner.scan(doc.doc_id, chunks)
                except ScanUnavailable as exc:
                    if self._settings.scan_required:
                        raise ScanUnavailableError(doc.source, str(exc)) from None
                    log.warning(
                        "document scan unavailable; chunks flagged unscanned", doc_id=doc.doc_id, error=str(exc)
                    )
                    result = mark_unscanned(chunks)
        if result.blocked:
            metrics.FLAGGED.labels("block").inc(result.blocked)
        if result.marked:
            metrics.FLAGGED.labels("mark").inc(result.marked)
        if result.unscanned:
            metrics.FLAGGED.labels("unscanned").inc(sum(1 for c in result.kept if "unscanned" in c.flags))
        if not result.kept:
            raise AllChunksBlocked(doc.source, len(chunks))
        return result

    async def _publish(
        self, tenant: str, doc: PreparedDocument, title: str, content_hash: str, sequence: int, scanned: ScanResult
    ) -> IngestResult:
        chunks = scanned.kept
        version = common_pb2.DocumentVersion(content_hash=content_hash, sequence=sequence)
        for index, chunk in enumerate(chunks):
            # Blocked chunks leave no gaps: indices (and so point ids) stay 0..n-1.
            chunk.chunk_id = versioning.chunk_id(tenant, doc.doc_id, index)
            chunk.provenance.chunk_index = index
            chunk.provenance.version.CopyFrom(version)
        registered = await self._registry.begin_version(
            tenant,
            doc.doc_id,
            sequence=sequence,
            content_hash=content_hash,
            state=registry.QUEUED,
            chunk_count=len(chunks),
            flagged_chunks=scanned.flagged,
            unscanned=scanned.unscanned,
            source=doc.source,
            title=title,
        )
        if not registered:
            raise Superseded(doc.doc_id)
        batches = events.upsert_events(tenant, doc.doc_id, version, chunks, self._settings.batch_chunks)
        try:
            with metrics.stage("produce"):
                await self._send(tenant, doc.doc_id, batches)
        except Unavailable as exc:
            await self._registry.mark_failed(tenant, doc.doc_id, reason_of(exc), sequence=sequence)
            raise
        metrics.CHUNKS.inc(len(chunks))
        try:
            await self._registry.mark_chunked(tenant, doc.doc_id, sequence)
        except Unavailable as exc:
            # The events are durable; the status consumer's next update brings the registry up to date.
            log.warning("registry not updated after produce", doc_id=doc.doc_id, error=str(exc))
        log.info(
            "document accepted",
            doc_id=doc.doc_id,
            source=doc.source,
            sequence=sequence,
            chunks=len(chunks),
            batches=len(batches),
            flagged=scanned.flagged,
        )
        return IngestResult(doc.doc_id, doc.source, ACCEPTED, content_hash, sequence, len(chunks), scanned.flagged)

    async def _send(self, tenant: str, doc_id: str, batch: list[events_pb2.ChunksEvent]) -> None:
        key = versioning.event_key(tenant, doc_id)
        timeout = self._settings.produce_timeout_s
        try:
            await asyncio.to_thread(
                self._producer.send_many,
                self._settings.chunks_topic,
                [(key, event) for event in batch],
                timeout_s=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - any producer failure means "not acknowledged"
            raise Unavailable(f"broker did not acknowledge the events of {doc_id!r}: {exc}") from exc

    # -- delete ---------------------------------------------------------------------------------------

    async def delete(self, tenant: str, doc_id: str) -> common_pb2.DocumentVersion:
        """Delete every chunk of a document: purge markers in its DLQs, a DELETE event under a new sequence,
        then state DELETING.

        The state becomes DELETED when the index writer's IndexedEvent confirms the chunks are gone (the
        status consumer), so a deletion that never reached the index is never reported done. A repeated
        delete of a DELETING or DELETED document returns the deletion's version and sends nothing.

        Raises:
            InvalidArgument: bad doc_id.
            NotFound: the tenant has no such document.
            Unavailable: the broker or the registry cannot be reached.
        """
        validate_doc_id(doc_id)
        async with self._locks.hold((tenant, doc_id)):
            current = await self._registry.get(tenant, doc_id)
            if current is None:
                raise NotFound(f"document {doc_id!r} not found")
            if current.state in (registry.DELETING, registry.DELETED):
                return common_pb2.DocumentVersion(content_hash=current.content_hash, sequence=current.sequence)
            sequence = await self._registry.next_sequence(tenant, doc_id)
            version = common_pb2.DocumentVersion(content_hash="", sequence=sequence)
            await self._finish(self._send_delete(tenant, current, version))
            log.info("document deleting", doc_id=doc_id, sequence=sequence)
            return version

    def purge_dlqs(self) -> list[str]:
        """The DLQs (broker names) that may hold a document's events: chunks (embed's), vectors (the index
        writer's) and indexed (ingest's status consumer's)."""
        topics = (self._settings.chunks_topic, TOPIC_VECTORS, self._settings.indexed_topic)
        return [dlq_topic(topic_name(self._settings, topic)) for topic in topics]

    async def _purge_dead_letters(self, tenant: str, doc_id: str, sequence: int) -> None:
        """Append a purge marker for the document to each DLQ of ``purge_dlqs`` (``ragplane dlq purge``'s marker,
        covering the versions below the deletion's ``sequence`` too, also those dead-lettered after it), so that
        no ``dlq replay`` brings the deleted document's dead letters back.

        Raises:
            Unavailable: a DLQ did not acknowledge its marker.
        """
        timeout = self._settings.produce_timeout_s

        def write() -> None:
            for dlq in self.purge_dlqs():
                write_purge_marker(self._producer, dlq, tenant, doc_id, below_sequence=sequence, timeout_s=timeout)

        try:
            await asyncio.to_thread(write)
        except Exception as exc:  # noqa: BLE001 - any producer failure means "not acknowledged"
            raise Unavailable(f"broker did not acknowledge the purge markers of {doc_id!r}: {exc}") from exc

    async def _send_delete(
        self, tenant: str, current: registry.DocumentRecord, version: common_pb2.DocumentVersion
    ) -> None:
        # The markers go first: when they fail nothing was sent and the caller's retry does it all; after the
        # delete event a failure would leave a DELETING document whose repeated delete sends nothing.
        # The event is produced before it is registered: if the index writer reports first, the registry
        # adopts its DELETED and this (older-or-equal) begin_version changes nothing.
        with metrics.stage("produce"):
            await self._purge_dead_letters(tenant, current.doc_id, version.sequence)
            await self._send(tenant, current.doc_id, [events.delete_event(tenant, current.doc_id, version)])
        metrics.DELETES.inc()
        await self._registry.begin_version(
            tenant,
            current.doc_id,
            sequence=version.sequence,
            content_hash="",
            state=registry.DELETING,
            chunk_count=0,
            flagged_chunks=0,
            unscanned=False,
            source=current.source,
            title=current.title,
        )

    async def resend_delete(self, tenant: str, doc_id: str, sequence: int) -> bool:
        """Produce a DELETING document's delete event again (its first one was lost with the broker).

        Returns:
            False when the document moved on meanwhile (no longer DELETING under ``sequence``): nothing sent.
        Raises:
            Unavailable: the broker or the registry cannot be reached.
        """
        async with self._locks.hold((tenant, doc_id)):
            current = await self._registry.get(tenant, doc_id)
            if current is None or current.state != registry.DELETING or current.sequence != sequence:
                return False
            version = common_pb2.DocumentVersion(content_hash="", sequence=sequence)
            await self._send(tenant, doc_id, [events.delete_event(tenant, doc_id, version)])
            return await self._registry.touch_deleting(tenant, doc_id, sequence)

    # -- status ---------------------------------------------------------------------------------------

    async def status(self, tenant: str, doc_id: str) -> registry.DocumentRecord:
        """Raises NotFound when the tenant has no such document."""
        validate_doc_id(doc_id)
        record = await self._registry.get(tenant, doc_id)
        if record is None:
            raise NotFound(f"document {doc_id!r} not found")
        return record

    async def list(
        self, tenant: str, *, page_size: int, page_token: str, state: str
    ) -> tuple[list[registry.DocumentRecord], str]:
        """A page of documents in doc_id order; page tokens are opaque to callers."""
        if page_size > 1000:
            raise InvalidArgument("page_size", f"must be at most 1000, but got {page_size}")
        after = decode_page_token(page_token)
        records, last = await self._registry.list(tenant, page_size=page_size or 100, after=after, state=state)
        return records, encode_page_token(last) if last else ""
