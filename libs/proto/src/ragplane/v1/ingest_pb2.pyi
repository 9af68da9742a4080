import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from ragplane.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IngestOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INGEST_OUTCOME_UNSPECIFIED: _ClassVar[IngestOutcome]
    INGEST_OUTCOME_ACCEPTED: _ClassVar[IngestOutcome]
    INGEST_OUTCOME_UNCHANGED: _ClassVar[IngestOutcome]
    INGEST_OUTCOME_FAILED: _ClassVar[IngestOutcome]

class DocumentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_STATE_UNSPECIFIED: _ClassVar[DocumentState]
    DOCUMENT_STATE_QUEUED: _ClassVar[DocumentState]
    DOCUMENT_STATE_CHUNKED: _ClassVar[DocumentState]
    DOCUMENT_STATE_INDEXED: _ClassVar[DocumentState]
    DOCUMENT_STATE_FAILED: _ClassVar[DocumentState]
    DOCUMENT_STATE_DELETED: _ClassVar[DocumentState]
    DOCUMENT_STATE_DELETING: _ClassVar[DocumentState]
INGEST_OUTCOME_UNSPECIFIED: IngestOutcome
INGEST_OUTCOME_ACCEPTED: IngestOutcome
INGEST_OUTCOME_UNCHANGED: IngestOutcome
INGEST_OUTCOME_FAILED: IngestOutcome
DOCUMENT_STATE_UNSPECIFIED: DocumentState
DOCUMENT_STATE_QUEUED: DocumentState
DOCUMENT_STATE_CHUNKED: DocumentState
DOCUMENT_STATE_INDEXED: DocumentState
DOCUMENT_STATE_FAILED: DocumentState
DOCUMENT_STATE_DELETED: DocumentState
DOCUMENT_STATE_DELETING: DocumentState

class ChunkingOptions(_message.Message):
    __slots__ = ("chunk_size_tokens", "chunk_overlap_tokens")
    CHUNK_SIZE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_OVERLAP_TOKENS_FIELD_NUMBER: _ClassVar[int]
    chunk_size_tokens: int
    chunk_overlap_tokens: int
    def __init__(self, chunk_size_tokens: _Optional[int] = ..., chunk_overlap_tokens: _Optional[int] = ...) -> None: ...

class DocumentHeader(_message.Message):
    __slots__ = ("doc_id", "source", "content_type", "title", "metadata", "chunking", "size_bytes")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNKING_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    source: str
    content_type: str
    title: str
    metadata: _struct_pb2.Struct
    chunking: ChunkingOptions
    size_bytes: int
    def __init__(self, doc_id: _Optional[str] = ..., source: _Optional[str] = ..., content_type: _Optional[str] = ..., title: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., chunking: _Optional[_Union[ChunkingOptions, _Mapping]] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class DocumentEnd(_message.Message):
    __slots__ = ("sha256",)
    SHA256_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    def __init__(self, sha256: _Optional[str] = ...) -> None: ...

class IngestDocumentsRequest(_message.Message):
    __slots__ = ("header", "content", "end")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    header: DocumentHeader
    content: bytes
    end: DocumentEnd
    def __init__(self, header: _Optional[_Union[DocumentHeader, _Mapping]] = ..., content: _Optional[bytes] = ..., end: _Optional[_Union[DocumentEnd, _Mapping]] = ...) -> None: ...

class DocumentError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class DocumentResult(_message.Message):
    __slots__ = ("doc_id", "source", "outcome", "version", "chunk_count", "flagged_chunks", "error", "error_status")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    FLAGGED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_STATUS_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    source: str
    outcome: IngestOutcome
    version: _common_pb2.DocumentVersion
    chunk_count: int
    flagged_chunks: int
    error: DocumentError
    error_status: _status_pb2.Status
    def __init__(self, doc_id: _Optional[str] = ..., source: _Optional[str] = ..., outcome: _Optional[_Union[IngestOutcome, str]] = ..., version: _Optional[_Union[_common_pb2.DocumentVersion, _Mapping]] = ..., chunk_count: _Optional[int] = ..., flagged_chunks: _Optional[int] = ..., error: _Optional[_Union[DocumentError, _Mapping]] = ..., error_status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class IngestDocumentsResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: DocumentResult
    def __init__(self, result: _Optional[_Union[DocumentResult, _Mapping]] = ...) -> None: ...

class UpsertDocumentRequest(_message.Message):
    __slots__ = ("header", "content")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    header: DocumentHeader
    content: bytes
    def __init__(self, header: _Optional[_Union[DocumentHeader, _Mapping]] = ..., content: _Optional[bytes] = ...) -> None: ...

class UpsertDocumentResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: DocumentResult
    def __init__(self, result: _Optional[_Union[DocumentResult, _Mapping]] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("doc_id",)
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    def __init__(self, doc_id: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("doc_id", "version")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    version: _common_pb2.DocumentVersion
    def __init__(self, doc_id: _Optional[str] = ..., version: _Optional[_Union[_common_pb2.DocumentVersion, _Mapping]] = ...) -> None: ...

class DocumentStatus(_message.Message):
    __slots__ = ("doc_id", "source", "title", "state", "version", "chunk_count", "reason", "updated_at", "indexed_chunks")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    source: str
    title: str
    state: DocumentState
    version: _common_pb2.DocumentVersion
    chunk_count: int
    reason: str
    updated_at: _timestamp_pb2.Timestamp
    indexed_chunks: int
    def __init__(self, doc_id: _Optional[str] = ..., source: _Optional[str] = ..., title: _Optional[str] = ..., state: _Optional[_Union[DocumentState, str]] = ..., version: _Optional[_Union[_common_pb2.DocumentVersion, _Mapping]] = ..., chunk_count: _Optional[int] = ..., reason: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., indexed_chunks: _Optional[int] = ...) -> None: ...

class GetDocumentStatusRequest(_message.Message):
    __slots__ = ("doc_id",)
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    def __init__(self, doc_id: _Optional[str] = ...) -> None: ...

class GetDocumentStatusResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: DocumentStatus
    def __init__(self, status: _Optional[_Union[DocumentStatus, _Mapping]] = ...) -> None: ...

class ListDocumentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: DocumentState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[DocumentState, str]] = ...) -> None: ...

class ListDocumentsResponse(_message.Message):
    __slots__ = ("documents", "next_page_token")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[DocumentStatus]
    next_page_token: str
    def __init__(self, documents: _Optional[_Iterable[_Union[DocumentStatus, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
