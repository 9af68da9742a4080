"""Document versions and deterministic chunk ids.

A version is (content_hash, sequence). The content hash covers everything that ends up in the index for
the document: the extracted text, the chunking parameters, the parser version and tokenizer, and the
title, source and caller metadata carried by every chunk. Re-ingesting with any of them changed therefore
produces a new version; identical input is recognised as unchanged. The sequence (Redis INCR per tenant
and document) orders versions: a higher sequence always wins.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from ragplane_ingest.chunking import ChunkingParams

# uuid5 namespace of ragplane chunk ids; changing it would re-key every index.
CHUNK_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ragplane.dev/ns/chunk")
_SEPARATOR = "\x1f"


def content_hash(
    text: str,
    params: ChunkingParams,
    *,
    parser_version: str,
    tokenizer: str,
    title: str,
    source: str,
    metadata: dict[str, Any],
) -> str:
    """Hex sha256 identifying what the index will hold for this document."""
    header = json.dumps(
        {
            "parser": parser_version,
            "tokenizer": tokenizer,
            "chunk_size": params.size,
            "chunk_overlap": params.overlap,
            "title": title,
            "source": source,
            "metadata": metadata,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    digest = hashlib.sha256()
    digest.update(header.encode())
    digest.update(b"\x00")
    digest.update(text.encode("utf-8", errors="surrogatepass"))
    return digest.hexdigest()


def chunk_id(tenant: str, doc_id: str, chunk_index: int) -> str:
    """Deterministic point id of a chunk: the same tenant, document and position always give the same id,
    so a replayed or duplicated message overwrites the same point."""
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{tenant}{_SEPARATOR}{doc_id}{_SEPARATOR}{chunk_index}"))


def event_key(tenant: str, doc_id: str) -> str:
    """Kafka key of every event about a document: one partition, so upserts and deletes stay in order."""
    return f"{tenant}/{doc_id}"
