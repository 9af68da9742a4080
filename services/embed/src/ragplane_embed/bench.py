"""Raw embedder throughput: the ceiling the ingest pipeline is compared against (timed with the runtime's harness)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragplane.runtime.bench import Timer
from ragplane_embed.embedder import Embedder


def raw_embed_throughput(
    texts: Sequence[str], batch_size: int = 32, embedder: Embedder | None = None, settings: Any = None
) -> dict[str, Any]:
    """Embed ``texts`` as documents (dense windows + BM25 sparse) the way the consumer does; time it.

    No Kafka and no gRPC: this is the embedder alone, in batches of ``batch_size`` texts, after one
    warm-up batch that is not timed.

    Args:
        texts: passages to embed.
        batch_size: texts per call (the consumer's micro-batch).
        embedder: a started embedder; by default one is built from ``settings`` (or the environment).
        settings: embed Settings for the default embedder.

    Returns:
        ``{"texts", "windows", "seconds", "chunks_per_s", "cpu_seconds", "batch_size", "dense_model",
        "backend"}`` (``cpu_seconds``: this process's CPU time, all threads, over the timed part).
    """
    if embedder is None:
        from ragplane_embed.config import load
        from ragplane_embed.embedder import build_embedder

        settings = settings or load()
        embedder = build_embedder(settings)
        embedder.start()
    backend = type(embedder.dense).__name__
    embedder.embed(list(texts[:batch_size]), query=False, source="bench")
    windows = len(embedder.windower.split(list(texts)).windows)
    with Timer() as timer:
        for i in range(0, len(texts), batch_size):
            embedder.embed(list(texts[i : i + batch_size]), query=False, source="bench")
    seconds = timer.wall_ms / 1000.0
    cpu_seconds = timer.cpu_ms / 1000.0
    return {
        "texts": len(texts),
        "windows": windows,
        "seconds": round(seconds, 3),
        "chunks_per_s": round(len(texts) / seconds, 2) if seconds > 0 else None,
        "cpu_seconds": round(cpu_seconds, 2),
        "batch_size": batch_size,
        "dense_model": embedder.dense_model,
        "backend": backend,
    }


def started_embedder(**overrides: Any) -> Embedder:
    """An embedder built from the environment's settings with ``overrides``, models loaded."""
    from ragplane.runtime.settings import load_settings
    from ragplane_embed.config import Settings
    from ragplane_embed.embedder import build_embedder

    embedder = build_embedder(load_settings(Settings, None, **overrides))
    embedder.start()
    return embedder
