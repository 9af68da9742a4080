"""ragplane eval service: Offline evaluation runs and online sampled scoring."""
