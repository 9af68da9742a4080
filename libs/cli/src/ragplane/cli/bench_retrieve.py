"""``ragplane bench retrieve``: search latency and HNSW recall of the embedded store at 100k chunks.

How the corpus is made: a few thousand real passages (SQuAD v1.1 dev when available, else generated
sentences) are embedded with the real embedder (MiniLM windows + BM25 sparse); the N indexed chunks are
derived from them cheaply: chunk i takes passage p = i mod P and a random partner q, dense =
normalise(e_p + 0.5 e_q + 0.05 noise) (so vectors stay in the low-rank manifold of real embeddings, the
case HNSW is built for, unlike random vectors) and sparse = p's BM25 terms plus q's at half weight.
Queries are real questions (SQuAD) or passage sentences, embedded as queries.

Reported: upsert rate, optimize time, store-level p50/p95 of dense / sparse / hybrid (before and after
optimize), per-tenant vs global IDF, recall@10 of HNSW against exact search, the same through the Search
RPC on loopback, RPC p95 while a writer upserts, and qdrant-client's local mode at a smaller size.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from ragplane.cli.cmd_bench import add_common_arguments, save_results
from ragplane.cli.output import console, print_json, print_table


def _squad_path() -> str | None:
    """$RAGPLANE_SQUAD_PATH, else the project's dataset helper (downloads and caches it once)."""
    path = os.environ.get("RAGPLANE_SQUAD_PATH", "")
    if path and Path(path).is_file():
        return path
    try:
        from ragplane.cli import datasets

        return str(datasets.squad_dev_path(progress=lambda msg: console.print(msg)))
    except Exception as exc:  # noqa: BLE001 - no copy and no download: fall back to generated text
        console.print(f"SQuAD v1.1 dev unavailable ({exc}); using generated passages")
        return None


def load_passages(limit: int, seed: int = 0) -> tuple[list[str], list[str], str]:
    """(passages, questions, source): SQuAD v1.1 dev if a copy can be had, else generated text."""
    for path in (_squad_path(),):
        if path and Path(path).is_file():
            data = json.loads(Path(path).read_text())["data"]
            passages, questions = [], []
            for article in data:
                for paragraph in article["paragraphs"]:
                    passages.append(paragraph["context"])
                    questions.extend(q["question"] for q in paragraph["qas"])
            rng = random.Random(seed)
            rng.shuffle(questions)
            return passages[:limit], questions, f"squad-v1.1-dev ({path})"
    rng = random.Random(seed)
    words = ("river mountain engine protocol harvest theory market signal castle orbit reactor archive "
             "planet library vaccine glacier treaty circuit festival dynasty satellite enzyme canal opera").split()
    passages = [" ".join(rng.choice(words) for _ in range(rng.randint(60, 140))) + "." for _ in range(limit)]
    questions = [" ".join(rng.choice(words) for _ in range(8)) + "?" for _ in range(limit)]
    return passages, questions, "generated"


def _pct(samples: list[float]) -> dict[str, float]:
    arr = np.array(samples) * 1000
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p95_ms": round(float(np.percentile(arr, 95)), 3)}


def _time_queries(store, queries, **kwargs) -> dict[str, float]:
    return _time_interleaved(store, {"_": [q if not kwargs else _replace(q, **kwargs) for q in queries]})["_"]


def _time_interleaved(store, variants: dict[str, list[Any]]) -> dict[str, dict[str, float]]:
    """p50/p95 of each variant, timing query i of every variant before query i + 1 of any.

    The machine is shared and its load drifts; interleaving gives every variant the same conditions.
    """
    for qs in variants.values():
        for q in qs[:3]:  # untimed: first-call costs (lazy loads, page faults) are not search latency
            store.search(q)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(min(len(qs) for qs in variants.values())):
        for name, qs in variants.items():
            started = time.perf_counter()
            store.search(qs[i])
            times[name].append(time.perf_counter() - started)
    return {name: _pct(samples) for name, samples in times.items()}


def _replace(query, **kwargs):
    return dataclasses.replace(query, **kwargs)


def build_corpus(args, embedder, passages, questions):
    from ragplane_retrieve.model import PointRecord, SearchQuery, Sparse

    started = time.perf_counter()
    docs = embedder.embed(passages, query=False, source="bench")
    embed_s = time.perf_counter() - started
    qs = embedder.embed(questions[:args.queries], query=True, source="bench")
    rng = np.random.default_rng(args.seed)
    base = docs.dense
    n = args.chunks

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
            payload = {"tenant": tenant, "doc_id": f"doc-{i // 10}", "chunk_id": "", "content_hash": "bench",
                       "sequence": 1, "chunk_index": i % 10, "page": 1 + (i % 10) // 3, "section_path": ["Bench"],
                       "char_start": 0, "char_end": len(passages[p]), "source": f"bench-{i // 10}.txt",
                       "title": "bench", "metadata": {"lang": "en" if i % 2 else "de"}, "flags": [],
                       "text": passages[p]}
            out.append(PointRecord(str(uuid.UUID(int=i + 1)), v.tolist(),
                                   Sparse(tuple(t for t, _ in items), tuple(float(w) for _, w in items)), payload))
        return out

    queries = {mode: [SearchQuery("bench", mode, top_k=args.top_k, dense=qs.dense[i].tolist(),
                                  sparse=Sparse(qs.sparse[i].indices, qs.sparse[i].values),
                                  prefetch_limit=max(50, args.top_k))
                      for i in range(len(qs.dense)) if qs.sparse[i].indices]
               for mode in ("dense", "sparse", "hybrid")}
    return points, queries, embed_s


def recall_at(store, queries, k: int = 10) -> float:
    hits = total = 0
    for q in queries:
        approx = {h.id for h in store.search(_replace(q, top_k=k))}
        exact = {h.id for h in store.search(_replace(q, top_k=k, exact=True))}
        hits += len(approx & exact)
        total += len(exact)
    return round(hits / max(total, 1), 4)


async def rpc_latency(store, queries, writer_points=None, writer_rate: float = 0.0) -> dict[str, Any]:
    """Search RPC p50/p95 per mode on loopback.

    With ``writer_points`` a thread writes meanwhile the way the index writer does (upsert calls of
    RAGPLANE_RETRIEVE_UPSERT_BATCH points, each after the service's read-priority gate), as fast as it can
    (``writer_rate`` 0, a backlog) or at about ``writer_rate`` points per second.
    """
    import grpc

    from ragplane.runtime.server import start_service
    from ragplane.runtime.settings import load_settings
    from ragplane.v1 import common_pb2, retrieve_pb2, retrieve_pb2_grpc
    from ragplane_retrieve.config import Settings
    from ragplane_retrieve.app import RetrieveApp

    class _Opened:
        """The already-open store, so the service does not open (or close) it again."""

        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def open(self):
            return None

        def close(self):
            return None

    settings = load_settings(Settings, {}, writer_enabled=False, optimize_mode="off")
    batch_size = settings.upsert_batch
    app = RetrieveApp(settings, store=_Opened(store))
    running = await start_service(app, settings, port=0, metrics=False)
    modes = {"dense": retrieve_pb2.SEARCH_MODE_DENSE, "sparse": retrieve_pb2.SEARCH_MODE_SPARSE,
             "hybrid": retrieve_pb2.SEARCH_MODE_HYBRID}
    out: dict[str, Any] = {}
    stop = threading.Event()
    written = [0]

    def write() -> None:
        batch = 0
        started = time.perf_counter()
        while not stop.is_set():
            app.gate.before_write()
            store.upsert(writer_points(batch)[:batch_size])
            written[0] += min(batch_size, 64)
            batch += 1
            if writer_rate > 0:
                stop.wait(max(0.0, started + written[0] / writer_rate - time.perf_counter()))

    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = retrieve_pb2_grpc.RetrieveServiceStub(channel)
            metadata = [("authorization", "Bearer dev-key")]
            requests = {m: [retrieve_pb2.SearchRequest(
                dense_vector=q.dense, sparse_vector=common_pb2.SparseVector(indices=q.sparse.indices,
                                                                            values=q.sparse.values),
                top_k=q.top_k, mode=modes[m]) for q in queries[m]] for m in modes}
            await stub.Search(requests["dense"][0], metadata=metadata)
            thread = None
            if writer_points is not None:
                thread = threading.Thread(target=write, daemon=True)
                thread.start()
            started_all = time.perf_counter()
            for mode in (("hybrid",) if writer_points else modes):
                times = []
                for request in requests[mode]:
                    started = time.perf_counter()
                    await stub.Search(request, metadata=metadata, timeout=10)
                    times.append(time.perf_counter() - started)
                out[mode] = _pct(times)
            if thread is not None:
                stop.set()
                thread.join()
                out["points_written_meanwhile"] = written[0]
                out["writer_points_per_s"] = round(written[0] / (time.perf_counter() - started_all), 1)
    finally:
        await running.stop(0)
    return out


def local_mode_comparison(points_fn, queries, size: int) -> dict[str, Any]:
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
                store.upsert(pts[i:i + 512])
            out[name] = {"upsert_points_per_s": round(size / (time.perf_counter() - started), 1)}
            out[name].update(_time_interleaved(store, sample))
        local.close()
        started = time.perf_counter()
        edge.optimize()
        out["edge_optimized"] = {"optimize_s": round(time.perf_counter() - started, 1)}
        out["edge_optimized"].update(_time_interleaved(edge, sample))
        edge.close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from ragplane_embed.config import load as load_embed_settings
    from ragplane_embed.embedder import build_embedder
    from ragplane_retrieve.model import Condition
    from ragplane_retrieve.store.edge import EdgeStore

    passages, questions, source = load_passages(args.passages, args.seed)
    embedder = build_embedder(load_embed_settings())
    embedder.start()
    points_fn, queries, embed_s = build_corpus(args, embedder, passages, questions)
    results: dict[str, Any] = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                               "chunks": args.chunks, "passages": len(passages), "passage_source": source,
                               "queries": len(queries["dense"]), "top_k": args.top_k,
                               "passage_embed_s": round(embed_s, 1)}
    tmp = Path(args.path) if args.path else Path(tempfile.mkdtemp(prefix="ragplane-bench-retrieve-"))
    shutil.rmtree(tmp / "store", ignore_errors=True)
    store = EdgeStore(tmp / "store", metadata_indexes={"metadata.lang": "keyword"})
    store.open()
    try:
        upsert_s = 0.0
        for i in range(0, args.chunks, 1000):
            batch = points_fn(i, min(1000, args.chunks - i))
            started = time.perf_counter()
            store.upsert(batch)
            upsert_s += time.perf_counter() - started
        results["upsert_points_per_s"] = round(args.chunks / upsert_s, 1)
        results["store_before_optimize"] = _time_interleaved(store, {m: qs[:30] for m, qs in queries.items()})
        console.print(f"indexed {args.chunks} points in {upsert_s:.1f} s; optimizing (blocks this process)")
        started = time.perf_counter()
        store.optimize()
        results["optimize_s"] = round(time.perf_counter() - started, 1)
        results["unindexed_after_optimize"] = store.unindexed_points()
        # One untimed pass: right after optimize the new segments are cold on disk (mmap page faults).
        for qs in queries.values():
            for q in qs:
                store.search(q)
        results["store"] = _time_interleaved(store, {
            **queries,
            "sparse_global_idf": [_replace(q, tenant_idf=False) for q in queries["sparse"]],
            "hybrid_global_idf": [_replace(q, tenant_idf=False) for q in queries["hybrid"]],
            "hybrid_filtered_half": [_replace(q, conditions=(Condition("metadata.lang", equals="en"),))
                                     for q in queries["hybrid"]]})
        results["recall_at_10_hnsw_vs_exact"] = recall_at(store, queries["dense"][:100])
        results["rpc"] = asyncio.run(rpc_latency(store, queries))
        # The writer's points are made beforehand, so the thread spends its time in store writes (re-upserting
        # the same ids once it has written them all, which the engine handles as new versions of them).
        batches = [points_fn(args.chunks + 1 + b * 64, 64, "bench-writer") for b in range(100)]

        def writer_points(batch: int):
            return batches[batch % len(batches)]

        results["rpc_under_concurrent_writer"] = asyncio.run(rpc_latency(store, queries, writer_points))
        results["rpc_under_writer_200_points_per_s"] = asyncio.run(
            rpc_latency(store, queries, writer_points, writer_rate=200.0))
    finally:
        store.close()
        if not args.path:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.compare_local:
        console.print(f"comparing with qdrant-client local mode at {args.compare_local} points")
        results["store_choice"] = local_mode_comparison(points_fn, queries, args.compare_local)
    # The machine is shared: the load says how much of it the benchmark really had.
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def _rows(results: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for label, key in (("store, before optimize", "store_before_optimize"), ("store, optimized", "store"),
                       ("Search RPC (loopback)", "rpc"), ("RPC + writer, unthrottled", "rpc_under_concurrent_writer"),
                       ("RPC + writer, 200 points/s", "rpc_under_writer_200_points_per_s")):
        for mode, value in results.get(key, {}).items():
            if isinstance(value, dict):
                rows.append((label, mode, value["p50_ms"], value["p95_ms"]))
    for name, value in results.get("store_choice", {}).items():
        if isinstance(value, dict):
            for mode in ("dense", "sparse", "hybrid"):
                if mode in value:
                    rows.append((f"{name} @ {results['store_choice']['points']}", mode, value[mode]["p50_ms"],
                                 value[mode]["p95_ms"]))
    return rows


def _cmd(args: argparse.Namespace) -> int:
    results = run(args)
    path = save_results("retrieve", results, args.out)
    if args.json:
        print_json(results)
    else:
        print_table(f"retrieval latency at {results['chunks']} chunks (top_k={results['top_k']})",
                    ["where", "mode", "p50 ms", "p95 ms"], _rows(results))
        console.print(f"recall@10 HNSW vs exact: {results['recall_at_10_hnsw_vs_exact']}; optimize "
                      f"{results['optimize_s']} s; upsert {results['upsert_points_per_s']} points/s; "
                      f"passages: {results['passage_source']}")
        console.print(f"saved {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("retrieve", help="search latency and recall of the embedded store")
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks to index (default 100000)")
    parser.add_argument("--passages", type=int, default=2000, help="real passages to embed (default 2000)")
    parser.add_argument("--queries", type=int, default=300, help="queries per mode (default 300)")
    parser.add_argument("--top-k", type=int, default=20, help="results per search (default 20)")
    parser.add_argument("--compare-local", type=int, default=10_000,
                        help="also compare qdrant-client's local mode at this many points (0: skip)")
    parser.add_argument("--path", default=None, help="store folder to keep (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    add_common_arguments(parser)
    parser.set_defaults(func=_cmd)
