"""ragplane gateway: the HTTP edge in front of the orchestrator and ingest services."""
