"""``google.rpc.Status`` for per-item errors: one document of an ingest stream, one question of an eval run,
one failed answer on the answers topic. The item fails alone; the call or the stream goes on.
"""

from __future__ import annotations

import grpc
from google.rpc import status_pb2

from ragplane.runtime.errors import RagplaneError
from ragplane.v1 import ingest_pb2

_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def to_status(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    """A Status with the canonical number of ``code``."""
    return status_pb2.Status(code=code.value[0], message=message)


def status_of(exc: BaseException) -> status_pb2.Status:
    """The Status of a failure: a RagplaneError keeps its code, anything else is UNKNOWN."""
    if isinstance(exc, RagplaneError):
        return to_status(exc.code, exc.message)
    return to_status(grpc.StatusCode.UNKNOWN, f"{type(exc).__name__}: {exc}")


def code_name(status: status_pb2.Status) -> str:
    """The canonical name of a Status's code ("INVALID_ARGUMENT"); "UNKNOWN" for a number gRPC does not define."""
    code = _BY_NUMBER.get(status.code)
    return code.name if code is not None else grpc.StatusCode.UNKNOWN.name


def document_error(result: ingest_pb2.DocumentResult) -> tuple[str, str]:
    """(code name, message) of a rejected document; ("", "") when it was not rejected.

    Reads ``error_status`` and falls back to the deprecated ``error`` that servers before it sent.
    """
    if result.HasField("error_status"):
        return code_name(result.error_status), result.error_status.message
    return result.error.code, result.error.message
