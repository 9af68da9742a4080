"""The CPU model server (generate's LLM in CPU clusters) serves its v2 port over mutual TLS when configured, and
reports health on a plaintext health-only port for probes; generate's v2 client reaches it with its certificate.

The model server runs as its own process (it imports kserve; this process imports tritonclient).
"""

from __future__ import annotations

import dataclasses

import pytest
from support.processes import free_port, start_service_process

from ragplane.runtime.inference import InferenceClient
from ragplane.runtime.settings import CommonSettings, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_the_model_server_serves_mutual_tls_and_generate_reaches_it_with_its_certificate(pki, tmp_path):
    health_port = free_port()
    # SmolLM2-135M and a small context, as tests/integration/generate/conftest.py starts it.
    server = start_service_process(
        "ragplane_generate.modelserver",
        tmp_path,
        {
            "RAGPLANE_LLM_MODEL": "smollm2-135m",
            "RAGPLANE_MODEL_CACHE": str(tmp_path / "models"),
            "RAGPLANE_LLM_CONTEXT_TOKENS": "2048",
            "RAGPLANE_GRACE_PERIOD_S": "1",
            "RAGPLANE_TLS_CERT_FILE": str(pki.server.cert),
            "RAGPLANE_TLS_KEY_FILE": str(pki.server.key),
            "RAGPLANE_TLS_CA_FILE": str(pki.ca),
            "RAGPLANE_TLS_CLIENT_AUTH": "require",
            "RAGPLANE_GRPC_HEALTH_LISTEN": f"127.0.0.1:{health_port}",
        },
    )
    probe = dataclasses.replace(server, address=f"127.0.0.1:{health_port}")
    try:
        probe.wait_for("SERVING")
        address = f"localhost:{server.address.rpartition(':')[2]}"
        generate = load_settings(
            CommonSettings,
            {},
            tls_cert_file=str(pki.client.cert),
            tls_key_file=str(pki.client.key),
            tls_ca_file=str(pki.ca),
            model_server_tls=True,
        )
        clients = {
            "generate": InferenceClient(address, "ensemble", settings=generate),
            "no certificate": InferenceClient(
                address,
                "ensemble",
                settings=load_settings(CommonSettings, {}, tls_ca_file=str(pki.ca), model_server_tls=True),
            ),
            "plaintext": InferenceClient(address, "ensemble", settings=load_settings(CommonSettings, {})),
        }
        try:
            ready = {name: await client.is_ready(timeout_s=5) for name, client in clients.items()}
        finally:
            for client in clients.values():
                await client.close()
        assert ready == {"generate": True, "no certificate": False, "plaintext": False}, server.log_tail()
    finally:
        server.stop()
