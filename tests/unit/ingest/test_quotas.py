"""Per-tenant ingest quotas in one process (the fallback without Redis): open calls and bytes per minute, refused
with a retry-after; tenants apart. The cluster-wide ones are tested on a real Redis in
tests/integration/ingest/test_quotas_cluster.py."""

from __future__ import annotations

import pytest

from ragplane.runtime.errors import ResourceExhausted
from ragplane_ingest.quotas import TenantQuotas

pytestmark = [pytest.mark.unit, pytest.mark.asyncio]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_tenant_over_its_open_calls_is_refused_while_another_tenant_proceeds():
    quotas = TenantQuotas(max_calls=2, bytes_per_minute=1000)
    async with quotas.call("a"), quotas.call("a"):
        with pytest.raises(ResourceExhausted, match="RAGPLANE_INGEST_TENANT_MAX_CONCURRENT_CALLS") as info:
            async with quotas.call("a"):
                pass
        assert info.value.retry_after_s and info.value.retry_after_s > 0
        async with quotas.call("b"):
            pass
    async with quotas.call("a"), quotas.call("a"):
        pass


async def test_bytes_over_the_quota_are_refused_with_the_time_until_they_fit():
    clock = Clock()
    quotas = TenantQuotas(max_calls=1, bytes_per_minute=600, clock=clock)
    await quotas.charge("a", 500)
    with pytest.raises(ResourceExhausted, match="RAGPLANE_INGEST_TENANT_BYTES_PER_MINUTE") as info:
        await quotas.charge("a", 200)
    assert info.value.retry_after_s == pytest.approx(10.0)  # 100 bytes missing at 10 bytes/s
    await quotas.charge("b", 600)
    clock.now = 10.0
    await quotas.charge("a", 200)
