"""ragplane generate service: Prompt assembly and the LLM client over the v2 inference protocol."""
