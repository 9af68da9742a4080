"""ragplane retrieve service: Owns the vector index: hybrid search, and the index writer consuming ragplane.vectors.v1."""
