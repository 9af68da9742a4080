"""The document registry and its sequences live in the state Redis, apart from the caches Redis.

The caches Redis runs under a memory limit with LRU eviction. Were the registry kept there, filling the caches
would evict a document's sequence counter and record, its next upload would restart at sequence 1, and the
index writer would drop that version as stale. With the registry in the state Redis, nothing of it is evicted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from support.ingest import AUTH, Doc, make_settings, running_ingest, upsert

from ragplane.cli import infra
from ragplane.runtime.settings import SettingsError
from ragplane.v1 import ingest_pb2, ingest_pb2_grpc
from ragplane_ingest.config import load

pytestmark = pytest.mark.integration

CACHE_LIMIT = "4mb"
FILLER_BYTES = 40 * 1024 * 1024


@pytest.fixture(scope="module")
def lru_caches_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A caches Redis as production runs it: a small memory limit and allkeys-lru eviction."""
    log = tmp_path_factory.mktemp("caches-redis") / "redis.log"
    server = infra.start_redis(
        persistent=False, log_path=log, maxmemory=CACHE_LIMIT, eviction="allkeys-lru", name="caches-redis"
    )
    yield f"redis://{server.address}/0"
    server.stop()


def fill_past_limit(url: str) -> int:
    """Write ten times the caches Redis's memory limit in 1 KiB cache entries; returns the keys evicted."""
    client = redis.Redis.from_url(url)
    try:
        value = b"x" * 1024
        for start in range(0, FILLER_BYTES // len(value), 1000):
            pipe = client.pipeline(transaction=False)
            for index in range(start, start + 1000):
                pipe.set(f"cache:filler:{index}", value)
            pipe.execute()
        return int(client.info("stats")["evicted_keys"])
    finally:
        client.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_documents_versions_survive_the_caches_redis_evicting(kafka_bootstrap, lru_caches_url, state_redis_url):
    settings = make_settings(kafka_bootstrap, lru_caches_url, state_redis_url=state_redis_url, status_consumer=False)
    async with running_ingest(settings) as served:
        stub = served.stub(ingest_pb2_grpc.IngestServiceStub)
        for text in (b"the first version", b"the second version"):
            result = await upsert(stub, Doc("kept.txt", text, doc_id="kept"))
            assert result.outcome == ingest_pb2.INGEST_OUTCOME_ACCEPTED, result.error_status.message
        assert result.version.sequence == 2

        assert fill_past_limit(lru_caches_url) > 0, "the caches Redis evicted nothing: the test proves nothing"

        reply = await stub.GetDocumentStatus(
            ingest_pb2.GetDocumentStatusRequest(doc_id="kept"), metadata=AUTH, timeout=10
        )
        assert reply.status.version.sequence == 2, "the document's record was evicted"
        third = await upsert(stub, Doc("kept.txt", b"the third version", doc_id="kept"))
    assert third.outcome == ingest_pb2.INGEST_OUTCOME_ACCEPTED, third.error_status.message
    assert third.version.sequence == 3, "the sequence restarted: the index writer would drop this version as stale"


def test_a_state_redis_url_that_is_not_redis_is_refused_naming_the_variable():
    with pytest.raises(SettingsError, match="RAGPLANE_STATE_REDIS_URL: must be a redis:// or rediss:// URL") as raised:
        load({"RAGPLANE_STATE_REDIS_URL": "http://:s3cret@redis:6380/0"})
    assert "s3cret" not in str(raised.value)
