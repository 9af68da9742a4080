"""ListChunks' logic: the stored chunks of one document in chunk order, a page at a time.

A page token names the document and the position of the last chunk returned, so the next page starts right
after it even when chunks were added or removed in between; a token is only good for the doc_id it was issued
for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ragplane.runtime.errors import InvalidArgument
from ragplane.runtime.paging import decode_page_token, encode_page_token, invalid_page_token
from ragplane_retrieve.model import Hit
from ragplane_retrieve.store.base import ChunkPosition, VectorStore, chunk_position

MAX_PAGE = 1000


@dataclass(frozen=True)
class ChunkPage:
    """One page of a document's chunks; ``next_page_token`` is empty on the last page."""

    hits: list[Hit]
    next_page_token: str


def list_chunks(store: VectorStore, tenant: str, doc_id: str, *, page_size: int, page_token: str) -> ChunkPage:
    """A page of the tenant's chunks of ``doc_id``.

    Args:
        page_size: chunks per page, at most 1000; 0 means 1000.
        page_token: the previous page's ``next_page_token``; empty for the first page.

    Raises:
        InvalidArgument: naming doc_id, page_size or page_token.
    """
    if not doc_id:
        raise InvalidArgument("doc_id", "must not be empty")
    if page_size > MAX_PAGE:
        raise InvalidArgument("page_size", f"must be at most {MAX_PAGE}, but got {page_size}")
    size = page_size or MAX_PAGE
    after = position_after(page_token, doc_id)
    # One chunk more than the page tells whether another page follows without a second call.
    hits = store.scroll_doc(tenant, doc_id, size + 1, after=after)
    if len(hits) <= size:
        return ChunkPage(hits, "")
    page = hits[:size]
    return ChunkPage(page, encode_page_token(json.dumps([doc_id, *chunk_position(page[-1])])))


def position_after(page_token: str, doc_id: str) -> ChunkPosition | None:
    """The position a page token resumes after; None for the first page.

    Raises:
        InvalidArgument: naming page_token, when it is not a ListChunks token for ``doc_id``.
    """
    position = decode_page_token(page_token)
    if not position:
        return None
    try:
        token_doc_id, chunk_index, sequence = json.loads(position)
    except (ValueError, TypeError):
        raise invalid_page_token(page_token) from None
    if not (isinstance(chunk_index, int) and isinstance(sequence, int)):
        raise invalid_page_token(page_token)
    if token_doc_id != doc_id:
        raise invalid_page_token(page_token, f"was issued for doc_id {token_doc_id!r}, not {doc_id!r}")
    return chunk_index, sequence
