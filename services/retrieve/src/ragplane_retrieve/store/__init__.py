"""Vector stores behind one protocol: qdrant-edge in-process (local default) and a Qdrant server."""

from ragplane_retrieve.store.base import StoreError, VectorStore

__all__ = ["StoreError", "VectorStore"]
