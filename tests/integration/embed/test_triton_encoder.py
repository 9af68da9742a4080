"""The v2-protocol (Triton) dense backend against a real v2 server in a separate process.

The server (``v2_minilm_server.py``: kserve's v2 data plane serving all-MiniLM-L6-v2) runs in its own
process because kserve and tritonclient cannot be imported into one process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from support.processes import free_port, start_process
from support.servers import serve

from ragplane.runtime.errors import Unavailable
from ragplane.runtime.settings import load_settings
from ragplane.v1 import embed_pb2, embed_pb2_grpc
from ragplane_embed.app import EmbedApp
from ragplane_embed.config import Settings
from ragplane_embed.dense import InProcessEncoder
from ragplane_embed.embedder import build_embedder
from ragplane_embed.triton import TritonEncoder

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SERVER = Path(__file__).with_name("v2_minilm_server.py")


@pytest.fixture(scope="module")
def v2_server(tmp_path_factory):
    port = free_port()
    server = start_process(
        [sys.executable, str(SERVER), str(port)],
        tmp_path_factory.mktemp("v2") / "v2-server.log",
        port=port,
        env={"HF_HUB_OFFLINE": "1"},
    )
    try:
        server.wait_for("LISTENING")
        yield server.address
    finally:
        server.stop(10)


def test_triton_encoder_matches_the_in_process_model(v2_server):
    texts = ["The mitochondria is the powerhouse of the cell.", "Paris is the capital of France."] * 3
    remote = TritonEncoder(v2_server, "all-minilm-l6-v2", batch_size=4)
    remote.start()
    local = InProcessEncoder()
    local.start()
    try:
        a, b = remote.encode(texts), local.encode(texts)
        assert a.shape == (6, 384)
        assert np.abs(a - b).max() < 1e-4
        assert np.linalg.norm(a, axis=1) == pytest.approx([1.0] * 6, abs=1e-5)
    finally:
        remote.close()


def test_an_unknown_model_is_not_ready_and_start_fails(v2_server):
    encoder = TritonEncoder(v2_server, "no-such-model", startup_timeout_s=1.0)
    with pytest.raises(Unavailable, match="no-such-model"):
        encoder.start()


async def test_embed_rpc_on_the_triton_backend(v2_server):
    settings = load_settings(
        Settings,
        {},
        allow_dev_key=True,
        backend="triton",
        triton_url=v2_server,
        consumer_enabled=False,
        window_tokens=64,
        window_overlap=8,
    )
    async with serve(EmbedApp(settings), settings) as running:
        long_text = "Volcanoes erupt lava and ash. " * 40  # several 64-token windows through the v2 server
        response = await running.stub(embed_pb2_grpc.EmbedServiceStub).Embed(
            embed_pb2.EmbedRequest(texts=["volcano eruption", long_text]),
            metadata=[("authorization", "Bearer dev-key")],
        )
        remote = np.array([list(e.dense) for e in response.embeddings])
    # The same windows pooled in process give the same vectors: windowing sits above the backend.
    local = build_embedder(load_settings(Settings, {}, window_tokens=64, window_overlap=8))
    local.start()
    expected = local.embed_dense(["volcano eruption", long_text])
    assert len(local.windower.split([long_text]).windows) > 3
    assert response.dimensions == 384
    assert np.abs(remote - expected).max() < 1e-4
