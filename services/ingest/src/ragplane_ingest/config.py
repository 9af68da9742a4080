"""Settings of the ingest service, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ragplane.runtime.kafka import TOPIC_CHUNKS, TOPIC_INDEXED
from ragplane.runtime.settings import (
    CommonSettings,
    SettingsError,
    env,
    in_range,
    load_settings,
    non_negative,
    parse_hostport,
    positive,
)

MIB = 1024 * 1024


def _hostport_or_empty(raw: str) -> str:
    return parse_hostport(raw) if raw else ""


def _redis_scheme(value: str) -> str | None:
    # The value is not quoted back: the URL may carry the password.
    return None if value.startswith(("redis://", "rediss://")) else "must be a redis:// or rediss:// URL"


@dataclass(frozen=True)
class Settings(CommonSettings):
    """Ingest settings on top of the shared ones (broker, Redis, auth, ...)."""

    chunks_topic: str = env(
        "RAGPLANE_INGEST_CHUNKS_TOPIC", TOPIC_CHUNKS, doc="topic the chunks of each document version are produced to"
    )
    indexed_topic: str = env(
        "RAGPLANE_INGEST_INDEXED_TOPIC",
        TOPIC_INDEXED,
        doc="topic of the index writer's IndexedEvents (document status)",
    )
    status_group: str = env(
        "RAGPLANE_INGEST_STATUS_GROUP", "ragplane-ingest-status", doc="consumer group of the status consumer"
    )
    status_consumer: bool = env("RAGPLANE_INGEST_STATUS_CONSUMER", True, doc="run the status consumer in this process")
    state_redis_url: str = env(
        "RAGPLANE_STATE_REDIS_URL",
        "redis://127.0.0.1:6380/0",
        check=_redis_scheme,
        doc="Redis holding the document registry and version sequences: durable (append-only file) and never "
        "evicting (maxmemory-policy noeviction), apart from the caches of RAGPLANE_REDIS_URL",
    )
    redis_prefix: str = env(
        "RAGPLANE_INGEST_REDIS_PREFIX", "ragplane:ingest", doc="prefix of the document registry's Redis keys"
    )
    max_document_bytes: int = env(
        "RAGPLANE_INGEST_MAX_DOCUMENT_BYTES",
        50 * MIB,
        check=positive,
        doc="largest document accepted, in bytes (RESOURCE_EXHAUSTED above)",
    )
    max_title_chars: int = env(
        "RAGPLANE_INGEST_MAX_TITLE_CHARS",
        1024,
        check=positive,
        doc="longest document title, from the header or the document itself (INVALID_ARGUMENT above)",
    )
    max_source_chars: int = env(
        "RAGPLANE_INGEST_MAX_SOURCE_CHARS", 1024, check=positive, doc="longest header.source (INVALID_ARGUMENT above)"
    )
    max_section_chars: int = env(
        "RAGPLANE_INGEST_MAX_SECTION_CHARS",
        1024,
        check=positive,
        doc="longest section path (its headings together, in characters) a document may have",
    )
    max_word_chars: int = env(
        "RAGPLANE_INGEST_MAX_WORD_CHARS",
        10_000,
        check=positive,
        doc="longest run of non-whitespace characters a document may contain",
    )
    max_chunks_per_document: int = env(
        "RAGPLANE_INGEST_MAX_CHUNKS_PER_DOCUMENT", 20_000, check=positive, doc="most chunks one document may make"
    )
    max_unzipped_bytes: int = env(
        "RAGPLANE_INGEST_MAX_UNZIPPED_BYTES",
        256 * MIB,
        check=positive,
        doc="most bytes a zip container (DOCX) may expand to, from its directory, before anything is inflated",
    )
    max_zip_ratio: float = env(
        "RAGPLANE_INGEST_MAX_ZIP_RATIO",
        100.0,
        check=positive,
        doc="most a zip member over 1 MiB may expand relative to its compressed size",
    )
    max_pdf_pages: int = env(
        "RAGPLANE_INGEST_MAX_PDF_PAGES", 2000, check=positive, doc="most pages a PDF may have (INVALID_ARGUMENT above)"
    )
    parse_workers: int = env(
        "RAGPLANE_INGEST_PARSE_WORKERS",
        2,
        check=in_range(0, 64),
        doc="worker processes that parse documents under the time and memory budget; 0 parses in-process, "
        "without a budget",
    )
    parse_timeout_s: float = env(
        "RAGPLANE_INGEST_PARSE_TIMEOUT_S",
        30.0,
        check=positive,
        doc="longest one document may take to parse (INVALID_ARGUMENT above; the worker is replaced)",
    )
    parse_memory_mb: int = env(
        "RAGPLANE_INGEST_PARSE_MEMORY_MB",
        512,
        check=in_range(16, 1024 * 1024),
        doc="memory one document's parse may take on top of the loaded parsers, in MiB (INVALID_ARGUMENT above)",
    )
    tenant_max_concurrent_calls: int = env(
        "RAGPLANE_INGEST_TENANT_MAX_CONCURRENT_CALLS",
        4,
        check=positive,
        doc="ingest calls one tenant may have open at once (RESOURCE_EXHAUSTED with retry-after above)",
    )
    tenant_bytes_per_minute: int = env(
        "RAGPLANE_INGEST_TENANT_BYTES_PER_MINUTE",
        512 * MIB,
        check=positive,
        doc="document bytes one tenant may upload per minute (RESOURCE_EXHAUSTED with retry-after above)",
    )
    chunk_size_tokens: int = env(
        "RAGPLANE_INGEST_CHUNK_SIZE_TOKENS",
        512,
        check=positive,
        doc="default chunk size in tokens of the embedding model's tokenizer",
    )
    chunk_overlap_tokens: int = env(
        "RAGPLANE_INGEST_CHUNK_OVERLAP_TOKENS",
        50,
        check=non_negative,
        doc="default overlap between consecutive chunks of a section, in tokens",
    )
    min_chunk_size_tokens: int = env(
        "RAGPLANE_INGEST_MIN_CHUNK_SIZE_TOKENS",
        32,
        check=positive,
        doc="smallest chunk_size_tokens a request may ask for",
    )
    max_chunk_size_tokens: int = env(
        "RAGPLANE_INGEST_MAX_CHUNK_SIZE_TOKENS",
        2048,
        check=positive,
        doc="largest chunk_size_tokens a request may ask for",
    )
    tokenizer_path: str = env(
        "RAGPLANE_INGEST_TOKENIZER",
        "",
        doc="tokenizer.json measuring chunk sizes (default: the packaged all-MiniLM-L6-v2)",
    )
    batch_chunks: int = env("RAGPLANE_INGEST_BATCH_CHUNKS", 32, check=positive, doc="chunks per ChunksEvent message")
    produce_timeout_s: float = env(
        "RAGPLANE_INGEST_PRODUCE_TIMEOUT_S",
        30.0,
        check=positive,
        doc="how long to wait for the broker to acknowledge a document's events",
    )
    stuck_after_s: float = env(
        "RAGPLANE_INGEST_STUCK_AFTER_S",
        1800.0,
        check=positive,
        doc="a document QUEUED or CHUNKED with no progress for this long has lost its events (a memory-only "
        "broker restarted): it becomes FAILED with a reason to ingest it again; a DELETING one is sent again",
    )
    events_lost_before: float = env(
        "RAGPLANE_INGEST_EVENTS_LOST_BEFORE",
        0.0,
        check=non_negative,
        doc="a Unix time: documents QUEUED or CHUNKED with no change since then lost their events for certain and "
        "become FAILED at once; 'ragplane up' sets it to the start of its memory-only broker; 0: only the timeout",
    )
    stuck_check_interval_s: float = env(
        "RAGPLANE_INGEST_STUCK_CHECK_INTERVAL_S",
        60.0,
        check=positive,
        doc="how often ingest looks for documents stuck past RAGPLANE_INGEST_STUCK_AFTER_S (also once at start)",
    )
    guardrail_addr: str = env(
        "RAGPLANE_GUARDRAIL_ADDR",
        "",
        parse=_hostport_or_empty,
        doc="guardrail service for the document scan; empty: chunks are flagged 'unscanned'",
    )
    scan_required: bool = env(
        "RAGPLANE_INGEST_SCAN_REQUIRED",
        False,
        doc="fail a document when the guardrail cannot scan it (else flag it 'unscanned')",
    )
    scan_timeout_s: float = env(
        "RAGPLANE_INGEST_SCAN_TIMEOUT_S", 30.0, check=positive, doc="deadline of one ScanDocument call"
    )
    scan_batch_chunks: int = env(
        "RAGPLANE_INGEST_SCAN_BATCH_CHUNKS", 64, check=positive, doc="chunks per ScanDocument call"
    )

    def __post_init__(self) -> None:
        if self.min_chunk_size_tokens > self.max_chunk_size_tokens:
            raise SettingsError(
                "RAGPLANE_INGEST_MIN_CHUNK_SIZE_TOKENS: must be <= RAGPLANE_INGEST_MAX_CHUNK_SIZE_TOKENS "
                f"({self.max_chunk_size_tokens}), but got {self.min_chunk_size_tokens}"
            )
        if not self.min_chunk_size_tokens <= self.chunk_size_tokens <= self.max_chunk_size_tokens:
            raise SettingsError(
                f"RAGPLANE_INGEST_CHUNK_SIZE_TOKENS: must be between {self.min_chunk_size_tokens} and "
                f"{self.max_chunk_size_tokens}, but got {self.chunk_size_tokens}"
            )
        if self.chunk_overlap_tokens * 2 >= self.chunk_size_tokens:
            raise SettingsError(
                "RAGPLANE_INGEST_CHUNK_OVERLAP_TOKENS: must be less than half of the chunk size "
                f"({self.chunk_size_tokens}), but got {self.chunk_overlap_tokens}"
            )
        if self.scan_required and not self.guardrail_addr:
            raise SettingsError("RAGPLANE_INGEST_SCAN_REQUIRED: is true, so RAGPLANE_GUARDRAIL_ADDR must be set")


def load(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``environ`` (default: the process environment) plus explicit overrides (tests).

    Raises:
        SettingsError: naming the variable that is missing or invalid.
    """
    return load_settings(Settings, environ, **overrides)
