"""ragplane rerank service: Reorders retrieval candidates with a reranking model."""
