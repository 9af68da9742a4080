"""One contract suite for every VectorStore backend: each backend subclasses StoreContract.

QdrantServerStore runs against qdrant-client's local mode (``location=":memory:"``): no Qdrant server binary
exists on the build machines, so the class's own code path (collections, filters, prefetch + RRF query,
state collection) is exercised against the client's pure-Python engine, not a server.
"""

from __future__ import annotations

import numpy as np
import pytest

from ragplane_retrieve.model import Condition, DocState, Range, SearchQuery, Sparse, TenantState
from ragplane_retrieve.store.edge import EdgeStore
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.integration


class StoreContract:
    """Behaviour every store must have. Subclasses provide the ``store`` fixture (opened, empty)."""

    @pytest.fixture
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(7)

    def test_upsert_counts_points_per_tenant_and_replay_changes_nothing(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        points = [point("t1", "d1", i, unit(rng), {i: 1.0}) for i in range(5)]
        store.upsert(points)
        store.upsert(points)
        store.upsert([point("t2", "d1", 0, unit(rng))])
        assert store.count("t1") == 5
        assert store.count("t2") == 1
        assert store.count("t1", [Condition("doc_id", equals="d1")]) == 5

    def test_dense_search_returns_the_nearest_chunk_first_with_its_payload(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        vectors = [unit(rng) for _ in range(20)]
        store.upsert([point("t1", "d1", i, v) for i, v in enumerate(vectors)])
        hits = store.search(SearchQuery("t1", "dense", top_k=3, dense=vectors[7]))
        assert [h.payload["chunk_index"] for h in hits][0] == 7
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert hits[0].payload["text"] == "d1 chunk 7" and hits[0].payload["section_path"] == ["Intro"]
        assert len(hits) == 3

    def test_search_never_returns_another_tenants_chunks(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        shared = unit(rng)
        store.upsert([point("t1", "mine", 0, shared, {5: 1.0}), point("t2", "theirs", 0, shared, {5: 1.0})])
        for mode in ("dense", "sparse", "hybrid"):
            hits = store.search(SearchQuery("t1", mode, top_k=10, dense=shared, sparse=Sparse((5,), (1.0,))))
            assert {h.payload["doc_id"] for h in hits} == {"mine"}, mode

    def test_sparse_search_ranks_by_idf_weighted_term_overlap(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        # term 1 is everywhere (low IDF), term 2 only in chunk 3 (high IDF).
        store.upsert([point("t1", "d", i, unit(rng), {1: 1.0, **({2: 1.0} if i == 3 else {})}) for i in range(8)])
        hits = store.search(SearchQuery("t1", "sparse", top_k=8, sparse=Sparse((1, 2), (1.0, 1.0))))
        assert hits[0].payload["chunk_index"] == 3
        assert hits[0].score > hits[1].score

    def test_sparse_idf_is_computed_over_the_callers_tenant_only(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        # For t1, term 9 is rare (1 of 4 chunks); t2 floods the index with term 9 to make it common globally.
        store.upsert([point("t1", "d", i, unit(rng), {9: 1.0} if i == 0 else {8: 1.0}) for i in range(4)])
        store.upsert([point("t2", "x", i, unit(rng), {9: 1.0}) for i in range(40)])
        q = Sparse((9,), (1.0,))
        scoped = store.search(SearchQuery("t1", "sparse", top_k=1, sparse=q, tenant_idf=True))[0].score
        global_ = store.search(SearchQuery("t1", "sparse", top_k=1, sparse=q, tenant_idf=False))[0].score
        assert scoped > global_

    def test_hybrid_fuses_both_lists_with_the_requested_rrf_constant(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        vectors = [unit(rng) for _ in range(10)]
        store.upsert([point("t1", "d", i, v, {100 + i: 1.0}) for i, v in enumerate(vectors)])
        # chunk 4 is first by dense (its own vector) and the only sparse match: rank 1 in both lists.
        for k in (60, 10):
            hits = store.search(
                SearchQuery("t1", "hybrid", top_k=5, dense=vectors[4], sparse=Sparse((104,), (1.0,)), rrf_k=k)
            )
            assert hits[0].payload["chunk_index"] == 4
            # Qdrant's RRF: sum over lists of 1 / (k + rank), rank counted from 0.
            assert hits[0].score == pytest.approx(2 / k, rel=1e-3)
            # the rest appear in the dense list only: one term each, strictly smaller.
            assert all(h.score < hits[0].score for h in hits[1:])

    def test_hybrid_without_sparse_terms_ranks_by_dense_alone(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        vectors = [unit(rng) for _ in range(5)]
        store.upsert([point("t1", "d", i, v) for i, v in enumerate(vectors)])
        hits = store.search(SearchQuery("t1", "hybrid", top_k=2, dense=vectors[2], sparse=Sparse((), ())))
        assert hits[0].payload["chunk_index"] == 2

    def test_filters_equality_any_of_range_negate_and_metadata(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        q = unit(rng)
        store.upsert(
            [
                point(
                    "t1",
                    f"d{i}",
                    0,
                    unit(rng),
                    page=i,
                    source=f"s{i % 2}.pdf",
                    metadata={"lang": "en" if i < 3 else "de", "year": 2000 + i},
                )
                for i in range(6)
            ]
        )

        def docs(*conditions):
            return {
                h.payload["doc_id"]
                for h in store.search(SearchQuery("t1", "dense", top_k=50, dense=q, conditions=conditions))
            }

        assert docs(Condition("doc_id", equals="d2")) == {"d2"}
        assert docs(Condition("source", any_of=("s0.pdf",))) == {"d0", "d2", "d4"}
        assert docs(Condition("page", range=Range(gte=2, lt=4))) == {"d2", "d3"}
        assert docs(Condition("page", any_of=(1, 5))) == {"d1", "d5"}
        assert docs(Condition("metadata.lang", equals="de")) == {"d3", "d4", "d5"}
        assert docs(Condition("metadata.year", equals=2001)) == {"d1"}
        assert docs(Condition("metadata.lang", equals="en", negate=True)) == {"d3", "d4", "d5"}
        assert docs(Condition("metadata.lang", equals="en"), Condition("page", equals=0, negate=True)) == {"d1", "d2"}

    def test_delete_by_conditions_removes_only_matching_points_of_the_tenant(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        store.upsert([point("t1", "d", i, unit(rng), sequence=1 + i % 2) for i in range(6)])
        store.upsert([point("t2", "d", 0, unit(rng), sequence=1)])
        store.delete("t1", [Condition("doc_id", equals="d"), Condition("sequence", range=Range(lte=1))])
        assert store.count("t1") == 3
        assert store.count("t2") == 1
        store.delete("t1", [Condition("doc_id", equals="d"), Condition("sequence", equals=2, negate=True)])
        assert store.count("t1") == 3
        store.delete("t1", [Condition("doc_id", equals="d")])
        assert store.count("t1") == 0 and store.count("t2") == 1

    def test_scroll_doc_lists_chunks_in_order(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        store.upsert([point("t1", "d", i, unit(rng)) for i in (3, 0, 2, 1)])
        store.upsert([point("t1", "other", 0, unit(rng))])
        hits = store.scroll_doc("t1", "d", 10)
        assert [h.payload["chunk_index"] for h in hits] == [0, 1, 2, 3]
        assert [h.payload["chunk_index"] for h in store.scroll_doc("t1", "d", 2)] == [0, 1]
        assert store.scroll_doc("t2", "d", 10) == []

    def test_scroll_doc_resumes_after_a_position(self, store, rng, make_point, make_unit):
        point, unit = make_point, make_unit
        store.upsert([point("t1", "d", i, unit(rng), sequence=2) for i in (3, 0, 2, 1)])
        after = [(h.payload["chunk_index"], h.payload["sequence"]) for h in store.scroll_doc("t1", "d", 10, (1, 2))]
        assert after == [(2, 2), (3, 2)]
        assert [h.payload["chunk_index"] for h in store.scroll_doc("t1", "d", 10, (1, 1))] == [1, 2, 3]
        assert store.scroll_doc("t1", "d", 10, (3, 2)) == []

    def test_document_and_tenant_state_round_trip(self, store):
        assert store.doc_states([("t1", "d")]) == {}
        assert store.tenant_states(["t1"])["t1"].index_version == 0
        states = [
            DocState("t1", "d", 3, "abc", deleted=False, total_chunks=4, complete=True),
            DocState("t1", "gone", 2, "", deleted=True, complete=True),
        ]
        store.save_states(states, [TenantState("t1", 17)])
        assert store.doc_states([("t1", "d"), ("t1", "gone"), ("t2", "d")]) == {
            ("t1", "d"): states[0],
            ("t1", "gone"): states[1],
        }
        assert store.tenant_states(["t1", "t2"])["t1"].index_version == 17
        assert store.count_documents("t1") == 1
        assert store.count_documents("t2") == 0


class TestEdgeStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path):
        store = EdgeStore(tmp_path / "store", metadata_indexes={"metadata.lang": "keyword"})
        store.open()
        yield store
        store.close()


class TestQdrantServerStoreOnLocalMode(StoreContract):
    """QdrantServerStore on qdrant-client's local mode (no Qdrant server binary here)."""

    @pytest.fixture
    def store(self):
        store = QdrantServerStore(
            collection="contract", location=":memory:", metadata_indexes={"metadata.lang": "keyword"}
        )
        store.open()
        yield store
        store.close()
