"""The search path: request validation, query building, results with provenance."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import common_pb2, retrieve_pb2
from ragplane_retrieve import metrics
from ragplane_retrieve.filters import served_conditions, translate
from ragplane_retrieve.model import SearchQuery, Sparse
from ragplane_retrieve.payload import to_chunk
from ragplane_retrieve.store.base import VectorStore

MAX_TOP_K = 200
MAX_PREFETCH = 1000
_MODES = {
    retrieve_pb2.SEARCH_MODE_UNSPECIFIED: "hybrid",
    retrieve_pb2.SEARCH_MODE_HYBRID: "hybrid",
    retrieve_pb2.SEARCH_MODE_DENSE: "dense",
    retrieve_pb2.SEARCH_MODE_SPARSE: "sparse",
}


@dataclass(frozen=True)
class SearchDefaults:
    top_k: int = 20
    rrf_k: int = 60
    min_prefetch: int = 50
    tenant_idf: bool = True
    serve_unscanned: bool = False


def _sparse(vector: common_pb2.SparseVector) -> Sparse:
    indices, values = list(vector.indices), list(vector.values)
    if len(indices) != len(values):
        raise InvalidArgument("sparse_vector", f"has {len(indices)} indices and {len(values)} values")
    if len(set(indices)) != len(indices):
        raise InvalidArgument("sparse_vector.indices", "must be unique")
    if not all(math.isfinite(v) for v in values):
        raise InvalidArgument("sparse_vector.values", "must be finite numbers")
    pairs = sorted(zip(indices, values))
    return Sparse(tuple(i for i, _ in pairs), tuple(v for _, v in pairs))


def build_query(
    request: retrieve_pb2.SearchRequest, tenant: str, dimensions: int, defaults: SearchDefaults
) -> SearchQuery:
    """Validate a SearchRequest and build the store query for ``tenant`` (the authenticated caller's).

    Raises:
        InvalidArgument: naming the field that is wrong.
    """
    if request.mode not in _MODES:
        raise InvalidArgument("mode", f"unknown search mode {request.mode}")
    mode = _MODES[request.mode]
    top_k = request.top_k or defaults.top_k
    if top_k > MAX_TOP_K:
        raise InvalidArgument("top_k", f"must be in 1..{MAX_TOP_K}, but got {top_k}")
    dense = list(request.dense_vector) or None
    if dense is not None:
        if len(dense) != dimensions:
            raise InvalidArgument("dense_vector", f"must have {dimensions} dimensions, but has {len(dense)}")
        if not all(math.isfinite(v) for v in dense):
            raise InvalidArgument("dense_vector", "must contain finite numbers only")
    sparse = _sparse(request.sparse_vector) if request.HasField("sparse_vector") else None
    if mode in ("hybrid", "dense") and dense is None:
        raise InvalidArgument("dense_vector", f"{mode.upper()} search needs a dense vector")
    if mode == "sparse" and not sparse:
        raise InvalidArgument("sparse_vector", "SPARSE search needs a non-empty sparse vector")
    prefetch = request.prefetch_limit or max(defaults.min_prefetch, top_k)
    if prefetch > MAX_PREFETCH:
        raise InvalidArgument("prefetch_limit", f"must be at most {MAX_PREFETCH}, but got {prefetch}")
    if prefetch < top_k:
        raise InvalidArgument("prefetch_limit", f"must be >= top_k ({top_k}), but got {prefetch}")
    return SearchQuery(
        tenant=tenant,
        mode=mode,
        top_k=top_k,
        dense=dense,
        sparse=sparse,
        rrf_k=request.rrf_k or defaults.rrf_k,
        prefetch_limit=prefetch,
        conditions=translate(request.filters) + served_conditions(defaults.serve_unscanned),
        tenant_idf=defaults.tenant_idf,
    )


def run_search(store: VectorStore, query: SearchQuery) -> list[common_pb2.ScoredChunk]:
    """Search the store; results carry their chunk with full provenance and a 1-based rank."""
    started = time.perf_counter()
    hits = store.search(query)
    metrics.SEARCH_LATENCY.labels(query.mode).observe(time.perf_counter() - started)
    metrics.SEARCH_RESULTS.observe(len(hits))
    return [
        common_pb2.ScoredChunk(chunk=to_chunk(hit.id, hit.payload), retrieval_score=hit.score, retrieval_rank=rank)
        for rank, hit in enumerate(hits, start=1)
    ]
