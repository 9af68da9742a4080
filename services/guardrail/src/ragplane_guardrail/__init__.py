"""ragplane guardrail service: Input, output and document policies."""
