"""API keys mounted from a Secret rotate and revoke without a restart: a real server re-reads the key file.

The file is laid out as the kubelet mounts a Secret (a timestamped folder behind the ``..data`` symlink, swapped
atomically on update), so the test exercises what a rotation in a cluster does.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import secrets
import time

import grpc
import pytest
from support.servers import ServicerApp, serve

from ragplane.runtime.context import current_tenant
from ragplane.runtime.settings import CommonSettings, load_settings
from ragplane.v1 import embed_pb2, embed_pb2_grpc

pytestmark = pytest.mark.integration

RELOAD_S = 0.2
# Generous against RELOAD_S on a loaded machine; before the fix a change was never seen.
WITHIN_S = 10.0


class _WhoAmI(embed_pb2_grpc.EmbedServiceServicer):
    async def Embed(self, request, context):
        return embed_pb2.EmbedResponse(dense_model=current_tenant())


class _SecretMount:
    """A Secret volume: <dir>/api-keys -> ..data/api-keys, ..data -> ..<version>/, swapped atomically."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.version = 0
        (root / "api-keys").symlink_to("..data/api-keys")

    @property
    def path(self) -> str:
        return str(self.root / "api-keys")

    def write(self, text: str) -> None:
        self.version += 1
        folder = self.root / f"..v{self.version}"
        folder.mkdir()
        (folder / "api-keys").write_text(text)
        link = self.root / "..data_tmp"
        link.symlink_to(folder.name)
        os.replace(link, self.root / "..data")


async def _tenant_or_code(served, key: str) -> str | grpc.StatusCode:
    stub = served.stub(embed_pb2_grpc.EmbedServiceStub)
    try:
        reply = await stub.Embed(embed_pb2.EmbedRequest(), metadata=[("authorization", f"Bearer {key}")])
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return reply.dense_model


async def _eventually(served, key: str, expected) -> float:
    """Seconds until ``key`` gets ``expected`` (a tenant or a status code); fails after WITHIN_S."""
    start = time.monotonic()
    while (got := await _tenant_or_code(served, key)) != expected:
        assert time.monotonic() - start < WITHIN_S, f"{key}: still {got} after {WITHIN_S} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def mount(tmp_path) -> _SecretMount:
    mount = _SecretMount(tmp_path)
    mount.write("old-key=acme\n")
    return mount


def _settings(mount: _SecretMount) -> CommonSettings:
    return load_settings(
        CommonSettings,
        {},
        api_keys=mount.path,
        api_keys_reload_s=RELOAD_S,
        service_token=secrets.token_urlsafe(36),
    )


async def test_an_added_key_works_and_a_removed_key_is_refused_without_a_restart(mount):
    app = ServicerApp("orchestrator", [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, _WhoAmI())])
    async with serve(app, _settings(mount)) as served:
        assert await _tenant_or_code(served, "old-key") == "acme"
        assert await _tenant_or_code(served, "new-key") == grpc.StatusCode.UNAUTHENTICATED
        mount.write("old-key=acme\nnew-key=globex\n")
        await _eventually(served, "new-key", "globex")
        mount.write("new-key=globex\n")
        await _eventually(served, "old-key", grpc.StatusCode.UNAUTHENTICATED)
        assert await _tenant_or_code(served, "new-key") == "globex"


async def test_a_malformed_update_keeps_the_keys_in_force_until_it_is_fixed(mount):
    app = ServicerApp("orchestrator", [(embed_pb2_grpc.add_EmbedServiceServicer_to_server, _WhoAmI())])
    async with serve(app, _settings(mount)) as served:
        mount.write("this line is not key=tenant pairs\n")
        await asyncio.sleep(RELOAD_S * 3)
        assert await _tenant_or_code(served, "old-key") == "acme"
        mount.write("fixed-key=acme\n")
        await _eventually(served, "old-key", grpc.StatusCode.UNAUTHENTICATED)
        assert await _tenant_or_code(served, "fixed-key") == "acme"
