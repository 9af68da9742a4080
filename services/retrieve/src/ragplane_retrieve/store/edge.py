"""qdrant-edge-py: Qdrant's engine in this process (the local default store).

Layout under the store path: ``chunks/`` (the chunk shard: "dense" cosine vectors, "sparse" vectors with
the IDF modifier, payload indexes) and ``state/`` (a small shard of vector-less points holding each
document's newest sequence and each tenant's index version). Each shard directory is locked by its WAL:
one process per store path. The WAL stays on (with it off a second opener silently reads stale data).

Every call into the engine holds the GIL, so calls are serialised under one lock without losing
parallelism. ``optimize()`` builds the HNSW index in this process and freezes it for its whole duration
(100-170 s at 100k points on 2 cores); the service therefore optimizes *off-process* through
``offline_optimize`` (see ``ragplane_retrieve.optimize``): a child process optimizes a copy of the shard
while this process keeps serving and journals the writes it makes meanwhile; the copy is then swapped in
and the journal replayed, so searches pause only for the swap (a load and a short replay).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe

from ragplane.runtime.errors import InvalidArgument
from ragplane.runtime.logs import get_logger
from ragplane_retrieve.model import (
    DENSE,
    SPARSE,
    VERSION_STATE,
    Condition,
    DocState,
    Hit,
    PointRecord,
    SearchQuery,
    TenantState,
    doc_state_id,
    tenant_state_id,
)
from ragplane_retrieve.store.base import (
    CHUNK_INDEXES,
    ChunkPosition,
    StoreError,
    doc_conditions,
    doc_state_from,
    page_by_chunk_index,
    state_payload,
)

log = get_logger(__name__)
T = TypeVar("T")

_SCHEMA = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
}
# Qdrant's default: a filtered search whose candidates fit in this many KB of vectors skips HNSW.
FULL_SCAN_THRESHOLD_KB = 10_000


def edge_condition(condition: Condition) -> Any:
    """The engine's condition for ``condition``.

    Raises:
        InvalidArgument: for a boolean equality, which qdrant-edge 0.9's binding cannot express (it reads
            Python's True as the integer 1, so the match never hits).
    """
    if isinstance(condition.equals, bool):
        raise InvalidArgument(
            "filters",
            f"{condition.key}: the embedded store cannot match boolean values; "
            "store the flag as a string or use the Qdrant server store",
        )
    if condition.range is not None:
        r = condition.range
        return qe.FieldCondition(condition.key, range=qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt))
    if condition.any_of is not None:
        return qe.FieldCondition(condition.key, match=qe.MatchAny(list(condition.any_of)))
    return qe.FieldCondition(condition.key, match=qe.MatchValue(condition.equals))


def edge_filter(tenant: str, conditions: Sequence[Condition] = ()) -> qe.Filter:
    """The tenant condition plus ``conditions`` (negated ones under must_not)."""
    must = [qe.FieldCondition("tenant", match=qe.MatchValue(tenant))]
    must_not = []
    for condition in conditions:
        (must_not if condition.negate else must).append(edge_condition(condition))
    return qe.Filter(must=must, must_not=must_not or None)


def _has_segments(path: Path) -> bool:
    segments = path / "segments"
    return segments.is_dir() and any(segments.iterdir())


class EdgeStore:
    """The VectorStore on qdrant-edge shards under ``path``.

    Args:
        path: the store directory (created if missing).
        dimensions: dense vector width.
        metadata_indexes: extra payload indexes, {"metadata.key": "keyword" | "integer" | "float" | "bool"}.
        hnsw_m / hnsw_ef_construct: HNSW graph parameters used when the index is built.
        search_ef: HNSW ef at query time (None: the engine's default).
        indexing_threshold_kb: segments with more vector data than this get an HNSW index when optimized
            (None: the engine's default, 10 MB, about 6.5k 384-d vectors).
    """

    backend = "qdrant-edge"

    def __init__(
        self,
        path: str | os.PathLike[str],
        dimensions: int = 384,
        metadata_indexes: Mapping[str, str] | None = None,
        hnsw_m: int = 16,
        hnsw_ef_construct: int = 100,
        search_ef: int | None = None,
        indexing_threshold_kb: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.dimensions = dimensions
        self.metadata_indexes = dict(metadata_indexes or {})
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construct = hnsw_ef_construct
        self.search_ef = search_ef
        self.indexing_threshold_kb = indexing_threshold_kb
        self._chunks: qe.EdgeShard | None = None
        self._state: qe.EdgeShard | None = None
        # _write_lock orders writes and the optimize copy/swap; _lock guards every engine call.
        self._write_lock = threading.RLock()
        self._lock = threading.RLock()
        self._journal: list[Any] | None = None
        self._child: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def chunks_path(self) -> Path:
        return self.path / "chunks"

    def _chunks_config(self) -> qe.EdgeConfig:
        return qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=self.dimensions, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=qe.HnswIndexConfig(
                m=self.hnsw_m, ef_construct=self.hnsw_ef_construct, full_scan_threshold=FULL_SCAN_THRESHOLD_KB
            ),
            optimizers=(
                qe.EdgeOptimizersConfig(indexing_threshold=self.indexing_threshold_kb)
                if self.indexing_threshold_kb is not None
                else None
            ),
        )

    def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        recover_swap(self.chunks_path)
        for shard_dir in (self.chunks_path, self.path / "state"):
            # Left behind by an optimize that was killed; the shard loads fine without it.
            shutil.rmtree(shard_dir / "temp_segments", ignore_errors=True)
        self._chunks = self._call("open", lambda: self._open_shard(self.chunks_path, self._chunks_config()))
        try:
            self._state = self._call(
                "open",
                lambda: self._open_shard(
                    self.path / "state", qe.EdgeConfig(sparse_vectors={"unused": qe.EdgeSparseVectorParams()})
                ),
            )
        except StoreError:
            self._chunks.close()
            self._chunks = None
            raise
        self._create_indexes()
        log.info("edge store open", path=str(self.path), points=self._chunks.info().points_count)

    @staticmethod
    def _open_shard(path: Path, config: qe.EdgeConfig) -> qe.EdgeShard:
        try:
            if _has_segments(path):
                return qe.EdgeShard.load(str(path), config)
            return qe.EdgeShard.create(str(path), config)
        except Exception as exc:  # noqa: BLE001 - the engine raises bare Exceptions
            if "WouldBlock" in str(exc):
                raise StoreError(
                    f"qdrant-edge: {path} is open in another process (its WAL is locked); "
                    "one process per store directory"
                ) from exc
            raise

    def _create_indexes(self) -> None:
        assert self._chunks is not None and self._state is not None
        chunks, state = self._chunks, self._state
        ops = [qe.UpdateOperation.create_field_index("tenant", qe.KeywordIndexParams(is_tenant=True))]
        for name, kind in {**CHUNK_INDEXES, **self.metadata_indexes}.items():
            ops.append(qe.UpdateOperation.create_field_index(name, _SCHEMA[kind]))
        for op in ops:
            self._call("create index", lambda op=op: chunks.update(op))
        for name in ("kind", "tenant", "status"):
            self._call(
                "create index",
                lambda name=name: state.update(
                    qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword)
                ),
            )

    def close(self) -> None:
        self.cancel_offline_optimize()
        with self._write_lock, self._lock:
            for shard in (self._chunks, self._state):
                if shard is not None:
                    try:
                        shard.flush()
                    finally:
                        shard.close()
            self._chunks = self._state = None

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one engine call under the lock; its plain Exception becomes a StoreError naming ``what``."""
        with self._lock:
            try:
                return fn()
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - the engine raises bare Exceptions
                raise StoreError(f"qdrant-edge {what} failed", f"{type(exc).__name__}: {exc}") from exc

    def _shard(self) -> qe.EdgeShard:
        if self._chunks is None:
            raise StoreError("qdrant-edge store is not open")
        return self._chunks

    def _write(self, what: str, op: Any) -> None:
        with self._write_lock:
            self._call(what, lambda: self._shard().update(op))
            if self._journal is not None:
                self._journal.append(op)

    # -- chunks ------------------------------------------------------------------------------------

    def upsert(self, points: Sequence[PointRecord]) -> None:
        if not points:
            return
        edge_points = [
            qe.Point(
                p.id,
                {DENSE: p.dense, SPARSE: qe.SparseVector(list(p.sparse.indices), list(p.sparse.values))},
                p.payload,
            )
            for p in points
        ]
        self._write("upsert", qe.UpdateOperation.upsert_points(edge_points))

    def delete(self, tenant: str, conditions: Sequence[Condition]) -> None:
        self._write("delete", qe.UpdateOperation.delete_points_by_filter(edge_filter(tenant, conditions)))

    def promote(self, tenant: str, doc_id: str, sequence: int) -> None:
        version = [Condition("doc_id", equals=doc_id), Condition("sequence", equals=sequence)]
        others = [Condition("doc_id", equals=doc_id), Condition("sequence", equals=sequence, negate=True)]
        # Searches take _lock for their engine call: holding it across both writes makes the switch atomic.
        with self._write_lock, self._lock:
            self.delete(tenant, others)
            self._write(
                "promote", qe.UpdateOperation.delete_payload_by_filter(edge_filter(tenant, version), [VERSION_STATE])
            )

    def _idf(self, query: SearchQuery) -> qe.SearchParams | None:
        if not query.tenant_idf:
            return None
        return qe.SearchParams(idf=qe.IdfParams(corpus=edge_filter(query.tenant)))

    def search(self, query: SearchQuery) -> list[Hit]:
        flt = edge_filter(query.tenant, query.conditions)
        dense_params = (
            qe.SearchParams(hnsw_ef=self.search_ef, exact=query.exact) if self.search_ef or query.exact else None
        )
        if query.mode == "dense":
            request = qe.QueryRequest(
                limit=query.top_k,
                query=qe.Query.Nearest(query.dense, using=DENSE),
                filter=flt,
                params=dense_params,
                with_payload=True,
            )
        elif query.mode == "sparse":
            request = qe.QueryRequest(
                limit=query.top_k,
                query=qe.Query.Nearest(_sparse(query), using=SPARSE),
                filter=flt,
                params=self._idf(query),
                with_payload=True,
            )
        else:
            prefetches = [
                qe.Prefetch(
                    limit=query.prefetch_limit,
                    query=qe.Query.Nearest(query.dense, using=DENSE),
                    filter=flt,
                    params=dense_params,
                )
            ]
            if query.sparse:
                prefetches.append(
                    qe.Prefetch(
                        limit=query.prefetch_limit,
                        filter=flt,
                        params=self._idf(query),
                        query=qe.Query.Nearest(_sparse(query), using=SPARSE),
                    )
                )
            request = qe.QueryRequest(
                limit=query.top_k,
                prefetches=prefetches,
                query=qe.Fusion.Rrf(k=query.rrf_k),
                filter=flt,
                with_payload=True,
            )
        points = self._call("query", lambda: self._shard().query(request))
        return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in points]

    def scroll_doc(self, tenant: str, doc_id: str, limit: int, after: ChunkPosition | None = None) -> list[Hit]:
        flt = edge_filter(tenant, doc_conditions(doc_id, after))

        def fetch(n: int) -> list[Hit]:
            request = qe.ScrollRequest(
                limit=n, filter=flt, with_payload=True, with_vector=False, order_by=qe.OrderBy("chunk_index")
            )
            records, _ = self._call("scroll", lambda: self._shard().scroll(request))
            return [Hit(str(r.id), 0.0, dict(r.payload or {})) for r in records]

        return page_by_chunk_index(fetch, limit, after)

    def count(self, tenant: str, conditions: Sequence[Condition] = ()) -> int:
        request = qe.CountRequest(exact=True, filter=edge_filter(tenant, conditions))
        return self._call("count", lambda: self._shard().count(request))

    # -- document and tenant state -------------------------------------------------------------------

    def _state_shard(self) -> qe.EdgeShard:
        if self._state is None:
            raise StoreError("qdrant-edge store is not open")
        return self._state

    def doc_states(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], DocState]:
        if not keys:
            return {}
        ids = [doc_state_id(t, d) for t, d in keys]
        records = self._call(
            "retrieve", lambda: self._state_shard().retrieve(ids, with_payload=True, with_vector=False)
        )
        states = [doc_state_from(r.payload) for r in records if r.payload]
        return {(s.tenant, s.doc_id): s for s in states}

    def tenant_states(self, tenants: Sequence[str]) -> dict[str, TenantState]:
        ids = [tenant_state_id(t) for t in tenants]
        records = (
            self._call("retrieve", lambda: self._state_shard().retrieve(ids, with_payload=True, with_vector=False))
            if ids
            else []
        )
        found = {
            r.payload["tenant"]: TenantState(r.payload["tenant"], int(r.payload.get("index_version", 0)))
            for r in records
            if r.payload
        }
        return {t: found.get(t, TenantState(t)) for t in tenants}

    def save_states(self, docs: Sequence[DocState], tenants: Sequence[TenantState]) -> None:
        points = [qe.Point(doc_state_id(d.tenant, d.doc_id), {}, state_payload(d)) for d in docs]
        points += [
            qe.Point(
                tenant_state_id(t.tenant), {}, {"kind": "tenant", "tenant": t.tenant, "index_version": t.index_version}
            )
            for t in tenants
        ]
        if points:
            op = qe.UpdateOperation.upsert_points(points)
            with self._write_lock:
                self._call("save state", lambda: self._state_shard().update(op))

    def count_documents(self, tenant: str) -> int:
        flt = qe.Filter(
            must=[
                qe.FieldCondition("kind", match=qe.MatchValue("doc")),
                qe.FieldCondition("tenant", match=qe.MatchValue(tenant)),
                qe.FieldCondition("status", match=qe.MatchValue("live")),
            ]
        )
        return self._call("count", lambda: self._state_shard().count(qe.CountRequest(exact=True, filter=flt)))

    # -- indexing ------------------------------------------------------------------------------------

    def unindexed_points(self) -> int:
        """Points whose dense vector is not in an HNSW index yet.

        The engine counts indexed vectors over both named vectors, and a mutable segment's sparse vectors
        are always indexed, so ``2 * points - indexed`` is the number of dense vectors searched by brute
        force. A chunk with an empty sparse vector (a text of stop words only) is never counted as indexed,
        so it adds one forever: the figure drives a threshold, it is not an exact count.
        """
        info = self._call("info", lambda: self._shard().info())
        return max(0, 2 * info.points_count - info.indexed_vectors_count)

    def points(self) -> int:
        return self._call("info", lambda: self._shard().info().points_count)

    def optimize(self) -> bool:
        """Optimize in this process: blocks (and holds the GIL) until done. For benchmarks and offline use."""
        with self._write_lock:
            return self._call("optimize", lambda: self._shard().optimize())

    def offline_optimize(self, timeout_s: float | None = None, between: Callable[[], None] | None = None) -> bool:
        """Optimize a copy of the chunk shard in a child process, then swap it in.

        Args:
            timeout_s: give up (and keep the live shard) after this long.
            between: called after the child finished and before the swap (tests write here to exercise
                the journal).

        Returns:
            True when the optimized copy was swapped in.
        """
        copy = self._begin_copy()
        started = time.monotonic()
        ok = False
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "ragplane_retrieve.store.edge_optimize", str(copy)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                _, stderr = self._child.communicate(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.communicate()
                log.warning("offline optimize timed out", timeout_s=timeout_s)
                return False
            if self._child.returncode != 0:
                log.warning(
                    "offline optimize failed",
                    returncode=self._child.returncode,
                    error=stderr.decode(errors="replace")[-2000:],
                )
                return False
            if between is not None:
                between()
            self._swap(copy)
            ok = True
            log.info("offline optimize swapped in", seconds=round(time.monotonic() - started, 1))
            return True
        finally:
            self._child = None
            if not ok:
                with self._write_lock:
                    self._journal = None
                shutil.rmtree(copy, ignore_errors=True)

    def cancel_offline_optimize(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            child.kill()

    def _begin_copy(self) -> Path:
        copy = self.chunks_path.with_name("chunks.optimizing")
        with self._write_lock:
            if self._journal is not None:
                raise StoreError("an offline optimize is already running")
            shutil.rmtree(copy, ignore_errors=True)
            self._call("flush", lambda: self._shard().flush())
            # Searches go on during the copy (they take only _lock); writes wait for it.
            shutil.copytree(self.chunks_path, copy, ignore=shutil.ignore_patterns("temp_segments"))
            self._journal = []
        return copy

    def _swap(self, copy: Path) -> None:
        old = self.chunks_path.with_name("chunks.old")
        trash = self.chunks_path.with_name("chunks.trash")
        with self._write_lock, self._lock:
            journal, self._journal = self._journal or [], None
            self._shard().close()
            self._chunks = None
            os.rename(self.chunks_path, old)
            os.rename(copy, self.chunks_path)
            shard = qe.EdgeShard.load(str(self.chunks_path), self._chunks_config())
            for op in journal:
                shard.update(op)
            shard.flush()
            self._chunks = shard
            # Only now is the old shard redundant: a crash before this rename restores it at open().
            os.rename(old, trash)
        shutil.rmtree(trash, ignore_errors=True)
        log.info("optimized shard in place", replayed=len(journal))


def recover_swap(chunks: Path) -> None:
    """Finish or undo an interrupted offline optimize before opening ``chunks``."""
    old = chunks.with_name("chunks.old")
    shutil.rmtree(chunks.with_name("chunks.trash"), ignore_errors=True)
    shutil.rmtree(chunks.with_name("chunks.optimizing"), ignore_errors=True)
    if old.exists():
        # The swap did not finish: the live directory may lack journaled writes; the old one has them all.
        shutil.rmtree(chunks, ignore_errors=True)
        os.rename(old, chunks)
        log.warning("restored the shard of an interrupted optimize", path=str(chunks))


def _sparse(query: SearchQuery) -> qe.SparseVector:
    assert query.sparse is not None
    return qe.SparseVector(list(query.sparse.indices), list(query.sparse.values))
