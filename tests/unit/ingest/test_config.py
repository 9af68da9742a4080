"""Ingest settings are validated at start, naming the variable."""

from __future__ import annotations

import pytest

from ragplane.runtime.settings import SettingsError
from ragplane_ingest.config import load

pytestmark = pytest.mark.unit


def test_defaults():
    settings = load({})
    assert (settings.chunk_size_tokens, settings.chunk_overlap_tokens) == (512, 50)
    assert settings.max_document_bytes == 50 * 1024 * 1024
    assert settings.chunks_topic == "ragplane.chunks.v1" and settings.indexed_topic == "ragplane.indexed.v1"
    assert settings.status_group == "ragplane-ingest-status" and not settings.scan_required


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"RAGPLANE_INGEST_CHUNK_SIZE_TOKENS": "10"}, "RAGPLANE_INGEST_CHUNK_SIZE_TOKENS"),
        ({"RAGPLANE_INGEST_CHUNK_OVERLAP_TOKENS": "300"}, "RAGPLANE_INGEST_CHUNK_OVERLAP_TOKENS"),
        ({"RAGPLANE_INGEST_MAX_DOCUMENT_BYTES": "0"}, "RAGPLANE_INGEST_MAX_DOCUMENT_BYTES"),
        ({"RAGPLANE_INGEST_MAX_DOCUMENT_BYTES": "lots"}, "RAGPLANE_INGEST_MAX_DOCUMENT_BYTES"),
        ({"RAGPLANE_GUARDRAIL_ADDR": "nohost"}, "RAGPLANE_GUARDRAIL_ADDR"),
        ({"RAGPLANE_INGEST_SCAN_REQUIRED": "true"}, "RAGPLANE_INGEST_SCAN_REQUIRED"),
        ({"RAGPLANE_INGEST_MIN_CHUNK_SIZE_TOKENS": "4096"}, "RAGPLANE_INGEST_MIN_CHUNK_SIZE_TOKENS"),
    ],
)
def test_invalid_settings_name_the_variable(environ, variable):
    with pytest.raises(SettingsError, match=variable):
        load(environ)


def test_scan_required_with_a_guardrail_address_is_valid():
    settings = load({"RAGPLANE_INGEST_SCAN_REQUIRED": "1", "RAGPLANE_GUARDRAIL_ADDR": "127.0.0.1:50057"})
    assert settings.scan_required and settings.guardrail_addr == "127.0.0.1:50057"
