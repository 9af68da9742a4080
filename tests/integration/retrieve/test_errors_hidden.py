"""A failing vector store shows clients a status and a request id, never its hosts or response bodies.

A real retrieve server on the Qdrant server store (qdrant-client's local mode) whose client then fails the way a
real Qdrant does: an HTTP error whose body names an internal host, or a connection error naming it. The client
gets the right status (a rejected request is INTERNAL and not retriable, an outage UNAVAILABLE) and a message
naming the store and the request id; the body and host go to the log with that request id.
"""

from __future__ import annotations

import json
import logging

import grpc
import httpx
import pytest
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse
from support.servers import serve

from ragplane.runtime.logs import JsonFormatter
from ragplane.runtime.settings import load_settings
from ragplane.v1 import retrieve_pb2, retrieve_pb2_grpc
from ragplane_retrieve.app import RetrieveApp
from ragplane_retrieve.config import Settings
from ragplane_retrieve.store.qdrant_server import QdrantServerStore

pytestmark = pytest.mark.integration

HOST = "qdrant-0.qdrant-headless.rag.svc.cluster.local:6333"
BODY = f'{{"status": {{"error": "Wrong input: Collection `chunks` on {HOST} has no vector named `x`"}}}}'.encode()
KEY = [("authorization", "Bearer key-a"), ("x-request-id", "req-f20")]


class FailingClient:
    """Stands in for the store's QdrantClient once it is open: every call raises ``exc``."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise self.exc

        return fail


@pytest.fixture
async def served(tmp_path):
    settings = load_settings(
        Settings,
        {},
        allow_dev_key=True,
        api_keys="key-a=tenant-a",
        writer_enabled=False,
        optimize_mode="off",
        store="qdrant",
    )
    store = QdrantServerStore(collection="f20", location=":memory:")
    async with serve(RetrieveApp(settings, store=store), settings) as running:
        client = store._client
        yield running.stub(retrieve_pb2_grpc.RetrieveServiceStub), store
        store._client = client  # so that the app closes the store cleanly


@pytest.fixture
def log_lines():
    """The store's log records as the service writes them (JSON lines, with the request id)."""
    lines: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.setFormatter(JsonFormatter("retrieve"))
    handler.emit = lambda record: lines.append(handler.format(record))
    logger = logging.getLogger("ragplane_retrieve.store.base")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UnexpectedResponse(400, "Bad Request", BODY, httpx.Headers()), grpc.StatusCode.INTERNAL),
        (UnexpectedResponse(503, "Service Unavailable", BODY, httpx.Headers()), grpc.StatusCode.UNAVAILABLE),
        (ResponseHandlingException(httpx.ConnectError(f"[Errno 111] Connection refused: http://{HOST}")), None),
    ],
    ids=["rejected-400", "down-503", "unreachable"],
)
async def test_store_failures_reach_clients_without_hosts_or_bodies(served, log_lines, exc, code):
    stub, store = served
    store._client = FailingClient(exc)
    calls = (
        lambda: stub.GetIndexStats(retrieve_pb2.GetIndexStatsRequest(), metadata=KEY, timeout=10),
        lambda: stub.ListChunks(retrieve_pb2.ListChunksRequest(doc_id="d", page_size=5), metadata=KEY, timeout=10),
    )
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call()
        details = info.value.details()
        assert info.value.code() == (code or grpc.StatusCode.UNAVAILABLE), details
        assert "qdrant" in details and "req-f20" in details, details
        assert "qdrant-0" not in details and "svc" not in details and "Wrong input" not in details, details
    # The operator still finds what happened, by request id.
    logged = [entry for entry in map(json.loads, log_lines) if "qdrant-0" in entry.get("detail", "")]
    assert len(logged) == 2 and {entry["request_id"] for entry in logged} == {"req-f20"}, log_lines
