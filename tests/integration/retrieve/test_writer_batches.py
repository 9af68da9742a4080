"""One writer batch holding several events per document and several documents (no broker: the handler
is called directly with an EdgeStore in a temporary folder)."""

from __future__ import annotations

import pytest

from ragplane.v1 import events_pb2
from ragplane_retrieve.model import Condition
from ragplane_retrieve.store.edge import EdgeStore
from ragplane_retrieve.writer import IndexWriter

pytestmark = pytest.mark.integration


@pytest.fixture
def writer(tmp_path):
    store = EdgeStore(tmp_path / "s")
    store.open()
    yield IndexWriter(store, producer=None, indexed_topic="unused")
    store.close()


def test_events_of_one_document_apply_in_order_within_a_batch(writer, make_events):
    vectors_event, delete_event = make_events.vectors, make_events.delete
    events = [
        vectors_event("a", 1, [0, 1], 4, 0, 2),
        vectors_event("b", 1, [0], 1),
        vectors_event("a", 1, [2, 3], 4, 1, 2),
        vectors_event("a", 1, [0, 1], 4, 0, 2, tenant="other"),
        delete_event("a", 2),
        vectors_event("b", 2, [0, 1], 2),
    ]
    out = writer.handle(events)
    assert [(e.doc_id, e.tenant, e.outcome) for e in out] == [
        ("a", "default", events_pb2.INDEX_OUTCOME_PARTIAL),
        ("b", "default", events_pb2.INDEX_OUTCOME_INDEXED),
        ("a", "default", events_pb2.INDEX_OUTCOME_INDEXED),
        ("a", "other", events_pb2.INDEX_OUTCOME_PARTIAL),
        ("a", "default", events_pb2.INDEX_OUTCOME_DELETED),
        ("b", "default", events_pb2.INDEX_OUTCOME_INDEXED),
    ]
    store = writer.store
    assert store.count("default", [Condition("doc_id", equals="a")]) == 0
    assert store.count("other", [Condition("doc_id", equals="a")]) == 2
    assert [h.payload["sequence"] for h in store.scroll_doc("default", "b", 10)] == [2, 2]
    # Every applied change got its own version; the stored one is the newest (rounds apply the r-th event of
    # every document together, so versions follow application order, not batch order).
    versions = [e.index_version for e in out if e.tenant == "default"]
    assert len(set(versions)) == len(versions)
    assert store.tenant_states(["default"])["default"].index_version == max(versions)
