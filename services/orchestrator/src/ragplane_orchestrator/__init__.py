"""ragplane orchestrator service: The query path: guardrails, caches, retrieval, rerank, generation, citations."""
