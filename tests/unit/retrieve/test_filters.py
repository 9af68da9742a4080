"""Search filter validation and translation; request validation of the Search RPC."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import common_pb2, retrieve_pb2
from ragplane_retrieve.filters import translate
from ragplane_retrieve.model import Condition, Range
from ragplane_retrieve.search import SearchDefaults, build_query

pytestmark = pytest.mark.unit


def value(v):
    out = struct_pb2.Value()
    if isinstance(v, str):
        out.string_value = v
    elif isinstance(v, bool):
        out.bool_value = v
    else:
        out.number_value = v
    return out


def any_of(*vs):
    lv = struct_pb2.ListValue()
    lv.values.extend(value(v) for v in vs)
    return lv


def test_equality_any_of_range_and_negate_translate_to_conditions():
    filters = [
        common_pb2.FieldFilter(field="doc_id", equals=value("d1")),
        common_pb2.FieldFilter(field="page", any_of=any_of(1, 2)),
        common_pb2.FieldFilter(field="chunk_index", range=common_pb2.NumericRange(gte=2, lt=5)),
        common_pb2.FieldFilter(field="metadata.lang", equals=value("en"), negate=True),
        common_pb2.FieldFilter(field="metadata.score", equals=value(0.5)),
    ]
    assert translate(filters) == (
        Condition("doc_id", equals="d1"),
        Condition("page", any_of=(1, 2)),
        Condition("chunk_index", range=Range(gte=2.0, lt=5.0)),
        Condition("metadata.lang", equals="en", negate=True),
        Condition("metadata.score", range=Range(gte=0.5, lte=0.5)),
    )


@pytest.mark.parametrize(
    "flt, field",
    [
        (common_pb2.FieldFilter(field="tenant", equals=value("other")), "filters[0].field"),
        (common_pb2.FieldFilter(field="text", equals=value("x")), "filters[0].field"),
        (common_pb2.FieldFilter(field="metadata.", equals=value("x")), "filters[0].field"),
        (common_pb2.FieldFilter(field="doc_id"), "filters[0]"),
        (common_pb2.FieldFilter(field="page", equals=value("three")), "filters[0].equals"),
        (common_pb2.FieldFilter(field="source", range=common_pb2.NumericRange(gt=1)), "filters[0].range"),
        (common_pb2.FieldFilter(field="page", range=common_pb2.NumericRange()), "filters[0].range"),
        (common_pb2.FieldFilter(field="page", any_of=any_of()), "filters[0].any_of"),
        (common_pb2.FieldFilter(field="metadata.k", any_of=any_of("a", 1)), "filters[0].any_of"),
    ],
)
def test_bad_filters_are_invalid_arguments_naming_the_field(flt, field):
    with pytest.raises(InvalidArgument) as info:
        translate([flt])
    assert info.value.field == field


def request(**kwargs):
    return retrieve_pb2.SearchRequest(**kwargs)


DEFAULTS = SearchDefaults(top_k=20, rrf_k=60, min_prefetch=50)


def test_defaults_fill_top_k_rrf_k_prefetch_and_hybrid_mode():
    query = build_query(request(dense_vector=[0.1] * 4), "t1", 4, DEFAULTS)
    assert (query.mode, query.top_k, query.rrf_k, query.prefetch_limit, query.tenant) == ("hybrid", 20, 60, 50, "t1")
    query = build_query(request(dense_vector=[0.1] * 4, top_k=120, rrf_k=10), "t1", 4, DEFAULTS)
    assert (query.top_k, query.rrf_k, query.prefetch_limit) == (120, 10, 120)


def test_sparse_vectors_are_sorted_by_term_id():
    query = build_query(
        request(
            mode=retrieve_pb2.SEARCH_MODE_SPARSE,
            sparse_vector=common_pb2.SparseVector(indices=[9, 3], values=[0.5, 1.0]),
        ),
        "t",
        4,
        DEFAULTS,
    )
    assert query.sparse.indices == (3, 9) and query.sparse.values == (1.0, 0.5)


@pytest.mark.parametrize(
    "req, field",
    [
        (request(dense_vector=[0.1] * 3), "dense_vector"),
        (request(mode=retrieve_pb2.SEARCH_MODE_DENSE), "dense_vector"),
        (request(), "dense_vector"),
        (request(mode=retrieve_pb2.SEARCH_MODE_SPARSE), "sparse_vector"),
        (
            request(
                mode=retrieve_pb2.SEARCH_MODE_SPARSE, sparse_vector=common_pb2.SparseVector(indices=[1], values=[])
            ),
            "sparse_vector",
        ),
        (
            request(
                mode=retrieve_pb2.SEARCH_MODE_SPARSE,
                sparse_vector=common_pb2.SparseVector(indices=[1, 1], values=[1, 1]),
            ),
            "sparse_vector.indices",
        ),
        (request(dense_vector=[0.1] * 4, top_k=201), "top_k"),
        (request(dense_vector=[0.1] * 4, top_k=30, prefetch_limit=10), "prefetch_limit"),
        (request(dense_vector=[float("nan")] * 4), "dense_vector"),
    ],
)
def test_bad_requests_are_invalid_arguments_naming_the_field(req, field):
    with pytest.raises(InvalidArgument) as info:
        build_query(req, "t", 4, DEFAULTS)
    assert info.value.field == field
