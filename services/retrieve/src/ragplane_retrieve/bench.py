"""Search latency and HNSW recall of the embedded store, in process and through the Search RPC on loopback.

How the corpus is made: a few thousand real passages are embedded by the caller (the embed service's
embedder: MiniLM windows + BM25 sparse); the N indexed chunks are derived from them cheaply: chunk i takes
passage p = i mod P and a random partner q, dense = normalise(e_p + 0.5 e_q + 0.05 noise) (so vectors stay in
the low-rank manifold of real embeddings, the case HNSW is built for, unlike random vectors) and sparse = p's
BM25 terms plus q's at half weight. Queries are the caller's embedded questions.

Latencies are summarised with ``ragplane.runtime.bench.latency_summary`` (the one percentile definition).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragplane.runtime.bench import Timer, latency_summary
from ragplane_retrieve.model import Condition, PointRecord, SearchQuery, Sparse

MODES = ("dense", "sparse", "hybrid")
PointsFn = Callable[..., list[PointRecord]]


def _summary(samples_ms: list[float]) -> dict[str, Any]:
    return latency_summary(samples_ms, quantiles=(50, 95), digits=3)


def build_corpus(
    docs: Any, questions: Any, passages: Sequence[str], top_k: int, seed: int = 0
) -> tuple[PointsFn, dict[str, list[SearchQuery]]]:
    """Derive chunks from embedded passages and make the queries per mode.

    Args:
        docs: the passages embedded as documents (``.dense`` rows and ``.sparse[i].indices/.values``).
        questions: the questions embedded as queries (same shape).
        passages: the passage texts (payload text of the derived chunks).
        top_k: results per search.
        seed: seed of the partner choice and the noise.

    Returns:
        ``points(start, count, tenant)`` making chunks ``start..start+count``, and the queries per mode.
    """
    rng = np.random.default_rng(seed)
    base = docs.dense

    def points(start: int, count: int, tenant: str = "bench") -> list[PointRecord]:
        out = []
        for i in range(start, start + count):
            p, q = i % len(passages), int(rng.integers(len(passages)))
            v = base[p] + 0.5 * base[q] + 0.05 * rng.normal(size=base.shape[1]) / np.sqrt(base.shape[1])
            v = (v / np.linalg.norm(v)).astype(np.float32)
            terms = dict(zip(docs.sparse[p].indices, docs.sparse[p].values))
            for t, w in zip(docs.sparse[q].indices, docs.sparse[q].values):
                terms[t] = terms.get(t, 0.0) + 0.5 * w
            items = sorted(terms.items())
            payload = {
                "tenant": tenant,
                "doc_id": f"doc-{i // 10}",
                "chunk_id": "",
                "content_hash": "bench",
                "sequence": 1,
                "chunk_index": i % 10,
                "page": 1 + (i % 10) // 3,
                "section_path": ["Bench"],
                "char_start": 0,
                "char_end": len(passages[p]),
                "source": f"bench-{i // 10}.txt",
                "title": "bench",
                "metadata": {"lang": "en" if i % 2 else "de"},
                "flags": [],
                "text": passages[p],
            }
            out.append(
                PointRecord(
                    str(uuid.UUID(int=i + 1)),
                    v.tolist(),
                    Sparse(tuple(t for t, _ in items), tuple(float(w) for _, w in items)),
                    payload,
                )
            )
        return out

    queries = {
        mode: [
            SearchQuery(
                "bench",
                mode,
                top_k=top_k,
                dense=questions.dense[i].tolist(),
                sparse=Sparse(questions.sparse[i].indices, questions.sparse[i].values),
                prefetch_limit=max(50, top_k),
            )
            for i in range(len(questions.dense))
            if questions.sparse[i].indices
        ]
        for mode in MODES
    }
    return points, queries


def time_interleaved(store: Any, variants: dict[str, list[SearchQuery]]) -> dict[str, dict[str, Any]]:
    """p50/p95 of each variant, timing query i of every variant before query i + 1 of any.

    The machine is shared and its load drifts; interleaving gives every variant the same conditions.
    """
    for qs in variants.values():
        for q in qs[:3]:  # untimed: first-call costs (lazy loads, page faults) are not search latency
            store.search(q)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(min(len(qs) for qs in variants.values())):
        for name, qs in variants.items():
            with Timer() as timer:
                store.search(qs[i])
            times[name].append(timer.wall_ms)
    return {name: _summary(samples) for name, samples in times.items()}


def recall_at(store: Any, queries: Sequence[SearchQuery], k: int = 10) -> float:
    """Recall@k of the store's HNSW search against exact search over ``queries``."""
    hits = total = 0
    for q in queries:
        approx = {h.id for h in store.search(dataclasses.replace(q, top_k=k))}
        exact = {h.id for h in store.search(dataclasses.replace(q, top_k=k, exact=True))}
        hits += len(approx & exact)
        total += len(exact)
    return round(hits / max(total, 1), 4)


class _Opened:
    """The already-open store, so the service does not open (or close) it again."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Writer:
    """A thread writing the way the index writer does: upserts after the service's read-priority gate."""

    def __init__(
        self, app: Any, store: Any, batches: Callable[[int], list[PointRecord]], batch_size: int, rate: float
    ) -> None:
        self.app, self.store, self.batches, self.batch_size, self.rate = app, store, batches, batch_size, rate
        self.written = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        batch = 0
        started = time.perf_counter()
        while not self.stop.is_set():
            self.app.gate.before_write()
            self.store.upsert(self.batches(batch)[: self.batch_size])
            self.written += min(self.batch_size, 64)
            batch += 1
            if self.rate > 0:
                self.stop.wait(max(0.0, started + self.written / self.rate - time.perf_counter()))


async def rpc_latency(
    store: Any,
    queries: dict[str, list[SearchQuery]],
    writer_points: Callable[[int], list[PointRecord]] | None = None,
    writer_rate: float = 0.0,
) -> dict[str, Any]:
    """Search RPC p50/p95 per mode on loopback.

    With ``writer_points`` a thread writes meanwhile the way the index writer does (upsert calls of
    RAGPLANE_RETRIEVE_UPSERT_BATCH points, each after the service's read-priority gate), as fast as it can
    (``writer_rate`` 0, a backlog) or at about ``writer_rate`` points per second.
    """
    import grpc

    from ragplane.runtime.server import start_service
    from ragplane.runtime.settings import load_settings
    from ragplane.v1 import common_pb2, retrieve_pb2, retrieve_pb2_grpc
    from ragplane_retrieve.app import RetrieveApp
    from ragplane_retrieve.config import Settings

    settings = load_settings(Settings, {}, writer_enabled=False, optimize_mode="off", allow_dev_key=True)
    app = RetrieveApp(settings, store=_Opened(store))
    running = await start_service(app, settings, port=0, metrics=False)
    modes = {
        "dense": retrieve_pb2.SEARCH_MODE_DENSE,
        "sparse": retrieve_pb2.SEARCH_MODE_SPARSE,
        "hybrid": retrieve_pb2.SEARCH_MODE_HYBRID,
    }
    out: dict[str, Any] = {}
    writer = _Writer(app, store, writer_points, settings.upsert_batch, writer_rate) if writer_points else None
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = retrieve_pb2_grpc.RetrieveServiceStub(channel)
            metadata = [("authorization", "Bearer dev-key")]
            requests = {
                m: [
                    retrieve_pb2.SearchRequest(
                        dense_vector=q.dense,
                        sparse_vector=common_pb2.SparseVector(indices=q.sparse.indices, values=q.sparse.values),
                        top_k=q.top_k,
                        mode=modes[m],
                    )
                    for q in queries[m]
                ]
                for m in modes
            }
            await stub.Search(requests["dense"][0], metadata=metadata)
            if writer is not None:
                writer.thread.start()
            started_all = time.perf_counter()
            for mode in ("hybrid",) if writer else modes:
                times = []
                for request in requests[mode]:
                    with Timer() as timer:
                        await stub.Search(request, metadata=metadata, timeout=10)
                    times.append(timer.wall_ms)
                out[mode] = _summary(times)
            if writer is not None:
                writer.stop.set()
                writer.thread.join()
                out["points_written_meanwhile"] = writer.written
                out["writer_points_per_s"] = round(writer.written / (time.perf_counter() - started_all), 1)
    finally:
        await running.stop(0)
    return out


def local_mode_comparison(points_fn: PointsFn, queries: dict[str, list[SearchQuery]], size: int) -> dict[str, Any]:
    """Edge vs qdrant-client's local mode at ``size`` points (the store choice)."""
    from ragplane_retrieve.store.edge import EdgeStore
    from ragplane_retrieve.store.qdrant_server import QdrantServerStore

    sample = {m: qs[:30] for m, qs in queries.items()}
    pts = points_fn(0, size, "bench")
    out: dict[str, Any] = {"points": size}
    with tempfile.TemporaryDirectory(prefix="ragplane-bench-cmp-") as tmp:
        edge = EdgeStore(Path(tmp) / "edge")
        local = QdrantServerStore(collection="bench", location=":memory:")
        for name, store in (("edge_unoptimized", edge), ("qdrant_client_local", local)):
            store.open()
            started = time.perf_counter()
            for i in range(0, len(pts), 512):
                store.upsert(pts[i : i + 512])
            out[name] = {"upsert_points_per_s": round(size / (time.perf_counter() - started), 1)}
            out[name].update(time_interleaved(store, sample))
        local.close()
        started = time.perf_counter()
        edge.optimize()
        out["edge_optimized"] = {"optimize_s": round(time.perf_counter() - started, 1)}
        out["edge_optimized"].update(time_interleaved(edge, sample))
        edge.close()
    return out


def _fill(store: Any, points_fn: PointsFn, chunks: int) -> float:
    """Upsert ``chunks`` derived points in batches of 1000; return the points per second."""
    upsert_s = 0.0
    for i in range(0, chunks, 1000):
        batch = points_fn(i, min(1000, chunks - i))
        started = time.perf_counter()
        store.upsert(batch)
        upsert_s += time.perf_counter() - started
    return round(chunks / upsert_s, 1)


def _optimized_variants(queries: dict[str, list[SearchQuery]]) -> dict[str, list[SearchQuery]]:
    """The modes plus global IDF and a half-selective filter: what the optimized store is timed on."""
    return {
        **queries,
        "sparse_global_idf": [dataclasses.replace(q, tenant_idf=False) for q in queries["sparse"]],
        "hybrid_global_idf": [dataclasses.replace(q, tenant_idf=False) for q in queries["hybrid"]],
        "hybrid_filtered_half": [
            dataclasses.replace(q, conditions=(Condition("metadata.lang", equals="en"),)) for q in queries["hybrid"]
        ],
    }


def store_benchmark(
    points_fn: PointsFn,
    queries: dict[str, list[SearchQuery]],
    chunks: int,
    path: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Index ``chunks`` points in an edge store, then time it before and after optimize, and through the RPC.

    Args:
        points_fn: from ``build_corpus``.
        queries: from ``build_corpus``.
        chunks: points to index.
        path: store folder to keep (default: a temporary one, removed afterwards).
        progress: called with a line of progress now and then.

    Returns:
        upsert rate, optimize time, store and RPC latencies per mode, recall@10 of HNSW vs exact, and RPC
        latencies with a concurrent writer (unthrottled and at 200 points/s).
    """
    from ragplane_retrieve.store.edge import EdgeStore

    tmp = path or Path(tempfile.mkdtemp(prefix="ragplane-bench-retrieve-"))
    shutil.rmtree(tmp / "store", ignore_errors=True)
    store = EdgeStore(tmp / "store", metadata_indexes={"metadata.lang": "keyword"})
    store.open()
    results: dict[str, Any] = {}
    try:
        results["upsert_points_per_s"] = _fill(store, points_fn, chunks)
        results["store_before_optimize"] = time_interleaved(store, {m: qs[:30] for m, qs in queries.items()})
        progress(f"indexed {chunks} points; optimizing (blocks this process)")
        started = time.perf_counter()
        store.optimize()
        results["optimize_s"] = round(time.perf_counter() - started, 1)
        results["unindexed_after_optimize"] = store.unindexed_points()
        # One untimed pass: right after optimize the new segments are cold on disk (mmap page faults).
        for qs in queries.values():
            for q in qs:
                store.search(q)
        results["store"] = time_interleaved(store, _optimized_variants(queries))
        results["recall_at_10_hnsw_vs_exact"] = recall_at(store, queries["dense"][:100])
        results["rpc"] = asyncio.run(rpc_latency(store, queries))
        # The writer's points are made beforehand, so the thread spends its time in store writes (re-upserting
        # the same ids once it has written them all, which the engine handles as new versions of them).
        batches = [points_fn(chunks + 1 + b * 64, 64, "bench-writer") for b in range(100)]

        def writer_points(batch: int) -> list[PointRecord]:
            return batches[batch % len(batches)]

        results["rpc_under_concurrent_writer"] = asyncio.run(rpc_latency(store, queries, writer_points))
        results["rpc_under_writer_200_points_per_s"] = asyncio.run(
            rpc_latency(store, queries, writer_points, writer_rate=200.0)
        )
    finally:
        store.close()
        if path is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return results
