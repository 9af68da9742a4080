"""Per-tenant ingest quotas hold across replicas (issue 13, hardening item 6).

Two ingest servers share one real redis-server (the state Redis): a tenant's open call on one replica counts
on the other, its bytes are one budget across both, another tenant is not held up, and a replica that dies
holding a call frees the slot when the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import grpc
import pytest
import pytest_asyncio
from support.ingest import AUTH_A, AUTH_B, Doc, make_settings, running_ingest, stream_requests, upsert

from ragplane.runtime.errors import ResourceExhausted
from ragplane.v1 import ingest_pb2, ingest_pb2_grpc
from ragplane_ingest.quotas import RedisTenantQuotas

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ACCEPTED = ingest_pb2.INGEST_OUTCOME_ACCEPTED


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def replicas(kafka_bootstrap, state_redis_url):
    settings = make_settings(
        kafka_bootstrap,
        state_redis_url,
        tenant_max_concurrent_calls=1,
        tenant_bytes_per_minute=100_000,
    )
    # The second replica shares topics, prefix and Redis; one status consumer is enough for the test.
    second = dataclasses.replace(settings, status_consumer=False)
    async with running_ingest(settings) as one, running_ingest(second) as two:
        yield one.stub(ingest_pb2_grpc.IngestServiceStub), two.stub(ingest_pb2_grpc.IngestServiceStub)


async def test_an_open_call_on_one_replica_counts_on_the_other(replicas):
    one, two = replicas
    held = one.IngestDocuments(metadata=AUTH_A, timeout=30)
    await held.write(stream_requests([Doc("c/open.txt", b"hello")])[0])
    await one.ListDocuments(ingest_pb2.ListDocumentsRequest(), metadata=AUTH_A, timeout=10)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upsert(two, Doc("c/second.txt", b"second call"), metadata=AUTH_A)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "RAGPLANE_INGEST_TENANT_MAX_CONCURRENT_CALLS" in info.value.details()
    assert float(dict(info.value.trailing_metadata())["retry-after"]) > 0
    other = await upsert(two, Doc("c/other.txt", b"tenant b is not held up"), metadata=AUTH_B)
    assert other.outcome == ACCEPTED
    await held.done_writing()
    held.cancel()
    # The slot is released when the call ends, on whichever replica the next call lands.
    for _ in range(50):
        try:
            after = await upsert(two, Doc("c/after.txt", b"now it fits"), metadata=AUTH_A)
            break
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(0.1)
    assert after.outcome == ACCEPTED


async def test_a_tenants_bytes_are_one_budget_across_replicas(replicas):
    one, two = replicas
    first = await upsert(one, Doc("c/big-1.txt", b"word " * 14_000), metadata=AUTH_B)
    assert first.outcome == ACCEPTED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upsert(two, Doc("c/big-2.txt", b"more " * 14_000), metadata=AUTH_B)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "RAGPLANE_INGEST_TENANT_BYTES_PER_MINUTE" in info.value.details()
    assert 0 < float(dict(info.value.trailing_metadata())["retry-after"]) <= 60
    accepted = await upsert(two, Doc("c/small.txt", b"tenant a still fits"), metadata=AUTH_A)
    assert accepted.outcome == ACCEPTED


async def test_a_replica_killed_holding_a_call_frees_the_slot_when_its_lease_expires(state_redis_url):
    prefix = f"test:quota-crash:{os.getpid()}:{time.monotonic_ns()}"
    holder = textwrap.dedent(
        f"""
        import asyncio
        from ragplane_ingest.quotas import RedisTenantQuotas

        async def main():
            quotas = RedisTenantQuotas.from_url({state_redis_url!r}, {prefix!r}, 1, 1000)
            quotas._lease_ms = 1500
            async with quotas.call("tenant-a"):
                print("held", flush=True)
                await asyncio.sleep(3600)

        asyncio.run(main())
        """
    )
    child = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    quotas = RedisTenantQuotas.from_url(state_redis_url, prefix, 1, 1000)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        await asyncio.sleep(2.0)  # past one lease: the holder's renewals keep it
        with pytest.raises(ResourceExhausted):
            async with quotas.call("tenant-a"):
                pass
        async with quotas.call("tenant-b"):
            pass
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        killed_at = time.monotonic()
        while True:
            try:
                async with quotas.call("tenant-a"):
                    break
            except ResourceExhausted:
                assert time.monotonic() - killed_at < 5.0, "the dead replica's lease never expired"
                await asyncio.sleep(0.1)
        assert await quotas.open_calls("tenant-a") == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await quotas.close()
