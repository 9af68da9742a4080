"""Per-tenant ingest quotas on a real server: a tenant over its open calls or bytes per minute gets
RESOURCE_EXHAUSTED with a retry-after, while another tenant's uploads go through."""

from __future__ import annotations

import grpc
import pytest
import pytest_asyncio
from support.ingest import AUTH_A, AUTH_B, Doc, make_settings, running_ingest, stream_requests, upsert

from ragplane.v1 import ingest_pb2, ingest_pb2_grpc

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ACCEPTED = ingest_pb2.INGEST_OUTCOME_ACCEPTED


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stub(kafka_bootstrap, redis_url):
    settings = make_settings(kafka_bootstrap, redis_url, tenant_max_concurrent_calls=1, tenant_bytes_per_minute=100_000)
    async with running_ingest(settings) as served:
        yield served.stub(ingest_pb2_grpc.IngestServiceStub)


def retry_after(error: grpc.aio.AioRpcError) -> float:
    return float(dict(error.trailing_metadata())["retry-after"])


async def test_second_open_call_of_a_tenant_is_resource_exhausted_while_another_tenant_proceeds(stub):
    held = stub.IngestDocuments(metadata=AUTH_A, timeout=30)
    await held.write(stream_requests([Doc("q/open.txt", b"hello")])[0])
    first = await stub.ListDocuments(ingest_pb2.ListDocumentsRequest(), metadata=AUTH_A, timeout=10)
    assert first is not None  # the open call is registered once its first message was read
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upsert(stub, Doc("q/second.txt", b"second call"), metadata=AUTH_A)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "RAGPLANE_INGEST_TENANT_MAX_CONCURRENT_CALLS" in info.value.details()
    assert retry_after(info.value) > 0
    other = await upsert(stub, Doc("q/other.txt", b"tenant b is not held up"), metadata=AUTH_B)
    assert other.outcome == ACCEPTED
    await held.done_writing()
    held.cancel()


async def test_bytes_over_a_tenants_quota_are_resource_exhausted_with_retry_after(stub):
    first = await upsert(stub, Doc("q/big-1.txt", b"word " * 14_000), metadata=AUTH_B)
    assert first.outcome == ACCEPTED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upsert(stub, Doc("q/big-2.txt", b"more " * 14_000), metadata=AUTH_B)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "RAGPLANE_INGEST_TENANT_BYTES_PER_MINUTE" in info.value.details()
    assert 0 < retry_after(info.value) <= 60
    accepted = await upsert(stub, Doc("q/small.txt", b"tenant a still fits"), metadata=AUTH_A)
    assert accepted.outcome == ACCEPTED
