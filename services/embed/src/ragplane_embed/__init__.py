"""ragplane embed service: Dense and sparse embeddings; consumes ragplane.chunks.v1, produces ragplane.vectors.v1."""
