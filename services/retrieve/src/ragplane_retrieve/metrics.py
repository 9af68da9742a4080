"""Prometheus metrics of the retrieve service."""

from prometheus_client import Counter, Gauge, Histogram

from ragplane.runtime.telemetry import LATENCY_BUCKETS

SEARCH_LATENCY = Histogram(
    "ragplane_retrieve_search_duration_seconds",
    "Store search latency.",
    ["mode"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
SEARCH_RESULTS = Histogram(
    "ragplane_retrieve_search_results", "Results returned by a search.", buckets=(0, 1, 5, 10, 20, 50, 100, 200)
)
WRITER_BATCH = Histogram(
    "ragplane_retrieve_writer_batch_events",
    "VectorsEvents per writer batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
WRITER_LATENCY = Histogram(
    "ragplane_retrieve_writer_batch_duration_seconds", "Time to apply one writer batch.", buckets=LATENCY_BUCKETS
)
POINTS_UPSERTED = Counter("ragplane_retrieve_points_upserted_total", "Chunk points written.")
OUTCOMES = Counter("ragplane_retrieve_index_outcomes_total", "IndexedEvent outcomes.", ["outcome"])
UNINDEXED = Gauge("ragplane_retrieve_unindexed_points", "Points searched by brute force until the next optimize.")
OPTIMIZE_SECONDS = Histogram(
    "ragplane_retrieve_optimize_duration_seconds",
    "Offline optimize, copy to swap.",
    ["result"],
    buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200),
)
