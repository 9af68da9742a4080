"""Prometheus metrics of the embed service."""

from prometheus_client import Counter, Gauge, Histogram

BATCH_SIZE = Histogram(
    "ragplane_embed_batch_texts",
    "Texts embedded in one call.",
    ["source"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
)
EMBED_LATENCY = Histogram(
    "ragplane_embed_duration_seconds",
    "Time to embed one batch.",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TEXTS = Counter("ragplane_embed_texts_total", "Texts embedded.", ["source"])
WINDOWS = Counter("ragplane_embed_windows_total", "Model windows encoded (long texts take several).", ["source"])
THROUGHPUT = Gauge("ragplane_embed_texts_per_second", "Texts per second of the last batch.", ["source"])
