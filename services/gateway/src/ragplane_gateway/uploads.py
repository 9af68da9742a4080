"""A multipart upload turned into an IngestDocuments request stream while it arrives.

Each file part becomes a DocumentHeader, its bytes as content messages the moment they are read from the socket,
and a DocumentEnd with their SHA-256; nothing holds more than one received chunk of a file. Form fields set the
headers of the files that follow them, so they come first (as curl -F, httpx and requests send them when given
first); a field after a file part is refused with 400 naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.struct_pb2 import Struct
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from ragplane.v1 import ingest_pb2
from ragplane_gateway.errors import ApiError

FILE_FIELD = "file"
TEXT_FIELDS = ("doc_id", "title", "metadata", "chunk_size_tokens", "chunk_overlap_tokens")
MAX_FIELD_BYTES = 64 * 1024


def invalid(param: str, problem: str) -> ApiError:
    return ApiError(400, f"{param}: {problem}", param=param, code="invalid_argument")


@dataclass
class Upload:
    """What the stream saw: the files sent, and the error that ended it early (raised after the call)."""

    files: int = 0
    error: ApiError | None = None
    fields: dict[str, str] = field(default_factory=dict)


def boundary_of(request: Request) -> bytes:
    """The multipart boundary of the request.

    Raises:
        ApiError: 400 when the body is not multipart/form-data with a boundary.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise invalid(FILE_FIELD, "send the files as multipart/form-data")
    return boundary


def _header(upload: Upload, filename: str, content_type: str) -> ingest_pb2.DocumentHeader:
    fields = upload.fields
    if fields.get("doc_id") and upload.files > 1:
        raise invalid("doc_id", "only with a single file")
    metadata = None
    if fields.get("metadata"):
        try:
            value = json.loads(fields["metadata"])
        except json.JSONDecodeError as exc:
            raise invalid("metadata", f"not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise invalid("metadata", "must be a JSON object")
        metadata = Struct()
        metadata.update(value)
    sizes = {}
    for name in ("chunk_size_tokens", "chunk_overlap_tokens"):
        raw = fields.get(name, "0") or "0"
        if not raw.isdigit():
            raise invalid(name, f"must be a whole number >= 0, but got {raw[:40]!r}")
        sizes[name] = int(raw)
    return ingest_pb2.DocumentHeader(
        doc_id=fields.get("doc_id", ""),
        source=filename,
        # Browsers and curl send octet-stream for unknown types: then ingest picks a parser by the name.
        content_type="" if content_type == "application/octet-stream" else content_type,
        title=fields.get("title", ""),
        metadata=metadata,
        chunking=ingest_pb2.ChunkingOptions(**sizes),
    )


class _Parts:
    """python-multipart callbacks collected as events: ("begin", headers), ("data", bytes), ("end", None)."""

    def __init__(self, boundary: bytes) -> None:
        self.events: list[tuple[str, Any]] = []
        self._headers: dict[str, str] = {}
        self._name = b""
        self._value = b""
        callbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self.parser = MultipartParser(boundary, callbacks)

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._name = self._value = b""

    def _headers_finished(self) -> None:
        self.events.append(("begin", self._headers))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(("data", bytes(data[start:end])))

    def _part_end(self) -> None:
        self.events.append(("end", None))


async def ingest_requests(request: Request, upload: Upload) -> AsyncIterator[ingest_pb2.IngestDocumentsRequest]:
    """The IngestDocuments messages of the request's multipart body, produced as the body arrives.

    Never raises: a problem (a bad field, a body over the limit, a client gone) is kept in ``upload.error`` and
    ends the stream, so the caller answers with it once the call is over.
    """
    try:
        parts = _Parts(boundary_of(request))
        kind: str | None = None  # "file", a text field's name, or None between parts
        text = b""
        digest = hashlib.sha256()
        async for chunk in request.stream():
            parts.parser.write(chunk)
            for event, value in parts.events:
                if event == "begin":
                    _, options = parse_options_header(value.get("content-disposition", ""))
                    name = options.get(b"name", b"").decode("utf-8", "replace")
                    filename = options.get(b"filename")
                    if name == FILE_FIELD and filename is not None:
                        upload.files += 1
                        kind = "file"
                        digest = hashlib.sha256()
                        content_type = value.get("content-type", "")
                        header = _header(upload, filename.decode("utf-8", "replace"), content_type)
                        yield ingest_pb2.IngestDocumentsRequest(header=header)
                    elif name in TEXT_FIELDS:
                        if upload.files:
                            raise invalid(name, "must come before the file parts (it sets their headers)")
                        kind, text = name, b""
                    else:
                        raise invalid(
                            name or "(unnamed part)",
                            f"unknown form field; expected {FILE_FIELD} and {', '.join(TEXT_FIELDS)}",
                        )
                elif event == "data":
                    if kind == "file":
                        digest.update(value)
                        yield ingest_pb2.IngestDocumentsRequest(content=value)
                    else:
                        text += value
                        if len(text) > MAX_FIELD_BYTES:
                            raise invalid(str(kind), f"must be at most {MAX_FIELD_BYTES} bytes")
                elif event == "end":
                    if kind == "file":
                        yield ingest_pb2.IngestDocumentsRequest(end=ingest_pb2.DocumentEnd(sha256=digest.hexdigest()))
                    elif kind is not None:
                        upload.fields[kind] = text.decode("utf-8", "replace")
                    kind = None
            parts.events.clear()
        parts.parser.finalize()
        if not upload.files:
            raise invalid(FILE_FIELD, "no file part: send each file as a 'file' part of multipart/form-data")
    except ApiError as exc:
        upload.error = exc
    except FormParserError as exc:
        upload.error = invalid(FILE_FIELD, f"malformed multipart body: {exc}")
    except ClientDisconnect:
        upload.error = ApiError(499, "the client closed the connection during the upload", code="cancelled")


# The request body of POST /v1/documents for the OpenAPI document (the route reads the stream itself).
OPENAPI_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {
                    "doc_id": {
                        "type": "string",
                        "description": "the document id (one file only); default: the file name",
                    },
                    "title": {"type": "string"},
                    "metadata": {"type": "string", "description": "a JSON object stored with every chunk (filters)"},
                    "chunk_size_tokens": {"type": "integer", "minimum": 0, "description": "0: the service default"},
                    "chunk_overlap_tokens": {"type": "integer", "minimum": 0, "description": "0: the service default"},
                    FILE_FIELD: {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "one or more files (txt, md, html, pdf, docx), after the fields above",
                    },
                },
            },
            "encoding": {FILE_FIELD: {"contentType": "application/octet-stream"}},
        }
    },
}
