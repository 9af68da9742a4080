"""Assembles the header / content / end parts of an IngestDocuments stream into documents.

A document whose header is invalid or whose bytes pass the size limit is rejected on its own: its remaining
content is discarded and it ends as a failed result, while the stream goes on. A malformed stream (content
or end without a header, a header inside an open document, the stream closing mid-document) fails the call
with INVALID_ARGUMENT naming the part. Content counts against the tenant's byte quota as it arrives; over the
quota the call fails with RESOURCE_EXHAUSTED and a retry-after (documents answered before it stand).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ragplane.runtime.errors import InvalidArgument, RagplaneError, ResourceExhausted
from ragplane_ingest.pipeline import DocumentSpec, IngestPipeline, PreparedDocument, derive_doc_id


@dataclass
class Upload:
    """One document of the stream, complete or rejected."""

    doc_id: str
    source: str
    prepared: PreparedDocument | None = None
    rejection: RagplaneError | None = None
    sha256: str = ""
    size: int = 0
    parts: list[bytes] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


class UploadAssembler:
    def __init__(self, pipeline: IngestPipeline, tenant: str = "") -> None:
        self._pipeline = pipeline
        self._tenant = tenant
        self._current: Upload | None = None

    def header(self, spec: DocumentSpec) -> None:
        """Start a document. Raises InvalidArgument naming ``header`` when one is still open."""
        if self._current is not None:
            raise InvalidArgument(
                "header",
                f"a header for {spec.source or spec.doc_id!r} arrived before the end of {self._current.source!r}",
            )
        upload = Upload(doc_id=derive_doc_id(spec.doc_id, spec.source), source=spec.source or spec.doc_id)
        try:
            upload.prepared = self._pipeline.prepare(spec)
        except RagplaneError as exc:
            upload.rejection = exc
        self._current = upload

    async def content(self, data: bytes) -> None:
        """Add bytes to the open document.

        Raises:
            InvalidArgument: naming ``content`` when no document is open.
            ResourceExhausted: the tenant is over its byte quota (before the bytes are kept).
        """
        upload = self._current
        if upload is None:
            raise InvalidArgument("content", "content arrived before a document header")
        await self._pipeline.quotas.charge(self._tenant, len(data))
        if upload.rejection is not None:
            return
        upload.size += len(data)
        try:
            self._pipeline.check_size(upload.source, upload.size)
        except ResourceExhausted as exc:
            upload.rejection = exc
            upload.parts.clear()
            return
        upload.parts.append(data)

    def end(self, sha256: str) -> Upload:
        """Close the open document and return it. Raises InvalidArgument naming ``end`` when none is open."""
        upload = self._current
        if upload is None:
            raise InvalidArgument("end", "end arrived before a document header")
        self._current = None
        upload.sha256 = sha256
        return upload

    def finish(self) -> None:
        """The stream closed. Raises InvalidArgument naming ``end`` when a document was left open."""
        if self._current is not None:
            raise InvalidArgument("end", f"the stream closed before the end of {self._current.source!r}")
