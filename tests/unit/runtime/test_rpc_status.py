"""Per-item errors as google.rpc.Status, and reading them from servers that sent only the old fields."""

from __future__ import annotations

import grpc
import pytest

from ragplane.runtime.errors import NotFound
from ragplane.runtime.rpc_status import code_name, document_error, status_of, to_status
from ragplane.v1 import ingest_pb2

pytestmark = pytest.mark.unit


def test_a_status_carries_the_canonical_code_number_and_reads_back_as_its_name():
    status = to_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "document too large")
    assert (status.code, status.message) == (8, "document too large")
    assert code_name(status) == "RESOURCE_EXHAUSTED"


def test_domain_errors_keep_their_code_and_anything_else_is_unknown():
    assert code_name(status_of(NotFound("no such run"))) == "NOT_FOUND"
    other = status_of(ValueError("bad judge reply"))
    assert (code_name(other), other.message) == ("UNKNOWN", "ValueError: bad judge reply")


def test_a_document_error_is_read_from_error_status_first():
    result = ingest_pb2.DocumentResult(
        error_status=to_status(grpc.StatusCode.INVALID_ARGUMENT, "corrupt PDF"),
        error=ingest_pb2.DocumentError(code="INTERNAL", message="older text"),
    )
    assert document_error(result) == ("INVALID_ARGUMENT", "corrupt PDF")


def test_a_document_error_from_a_server_before_error_status_is_still_read():
    result = ingest_pb2.DocumentResult(error=ingest_pb2.DocumentError(code="INVALID_ARGUMENT", message="empty"))
    assert document_error(result) == ("INVALID_ARGUMENT", "empty")
    assert document_error(ingest_pb2.DocumentResult()) == ("", "")
