"""ragplane ingest service: Parses and chunks documents, assigns versions, tracks document status; produces ragplane.chunks.v1."""
