import datetime

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

class DocumentOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_OPERATION_UNSPECIFIED: _ClassVar[DocumentOperation]
    DOCUMENT_OPERATION_UPSERT: _ClassVar[DocumentOperation]
    DOCUMENT_OPERATION_DELETE: _ClassVar[DocumentOperation]

class IndexOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INDEX_OUTCOME_UNSPECIFIED: _ClassVar[IndexOutcome]
    INDEX_OUTCOME_INDEXED: _ClassVar[IndexOutcome]
    INDEX_OUTCOME_PARTIAL: _ClassVar[IndexOutcome]
    INDEX_OUTCOME_DELETED: _ClassVar[IndexOutcome]
    INDEX_OUTCOME_STALE: _ClassVar[IndexOutcome]
    INDEX_OUTCOME_FAILED: _ClassVar[IndexOutcome]
DOCUMENT_OPERATION_UNSPECIFIED: DocumentOperation
DOCUMENT_OPERATION_UPSERT: DocumentOperation
DOCUMENT_OPERATION_DELETE: DocumentOperation
INDEX_OUTCOME_UNSPECIFIED: IndexOutcome
INDEX_OUTCOME_INDEXED: IndexOutcome
INDEX_OUTCOME_PARTIAL: IndexOutcome
INDEX_OUTCOME_DELETED: IndexOutcome
INDEX_OUTCOME_STALE: IndexOutcome
INDEX_OUTCOME_FAILED: IndexOutcome

class BatchPosition(_message.Message):
    __slots__ = ("index", "count", "total_chunks")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    index: int
    count: int
    total_chunks: int
    def __init__(self, index: _Optional[int] = ..., count: _Optional[int] = ..., total_chunks: _Optional[int] = ...) -> None: ...

class ChunksEvent(_message.Message):
    __slots__ = ("tenant", "doc_id", "version", "operation", "chunks", "batch", "produced_at")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    doc_id: str
    version: _common_pb2.DocumentVersion
    operation: DocumentOperation
    chunks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Chunk]
    batch: BatchPosition
    produced_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[str] = ..., doc_id: _Optional[str] = ..., version: _Optional[_Union[_common_pb2.DocumentVersion, _Mapping]] = ..., operation: _Optional[_Union[DocumentOperation, str]] = ..., chunks: _Optional[_Iterable[_Union[_common_pb2.Chunk, _Mapping]]] = ..., batch: _Optional[_Union[BatchPosition, _Mapping]] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EmbeddedChunk(_message.Message):
    __slots__ = ("chunk", "dense", "sparse")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    DENSE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    chunk: _common_pb2.Chunk
    dense: _containers.RepeatedScalarFieldContainer[float]
    sparse: _common_pb2.SparseVector
    def __init__(self, chunk: _Optional[_Union[_common_pb2.Chunk, _Mapping]] = ..., dense: _Optional[_Iterable[float]] = ..., sparse: _Optional[_Union[_common_pb2.SparseVector, _Mapping]] = ...) -> None: ...

class VectorsEvent(_message.Message):
    __slots__ = ("tenant", "doc_id", "version", "operation", "chunks", "batch", "dense_model", "sparse_model", "produced_at")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    DENSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    SPARSE_MODEL_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    doc_id: str
    version: _common_pb2.DocumentVersion
    operation: DocumentOperation
    chunks: _containers.RepeatedCompositeFieldContainer[EmbeddedChunk]
    batch: BatchPosition
    dense_model: str
    sparse_model: str
    produced_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[str] = ..., doc_id: _Optional[str] = ..., version: _Optional[_Union[_common_pb2.DocumentVersion, _Mapping]] = ..., operation: _Optional[_Union[DocumentOperation, str]] = ..., chunks: _Optional[_Iterable[_Union[EmbeddedChunk, _Mapping]]] = ..., batch: _Optional[_Union[BatchPosition, _Mapping]] = ..., dense_model: _Optional[str] = ..., sparse_model: _Optional[str] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IndexedEvent(_message.Message):
    __slots__ = ("tenant", "doc_id", "version", "outcome", "indexed_chunks", "total_chunks", "reason", "index_version", "produced_at")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    INDEXED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    doc_id: str
    version: _common_pb2.DocumentVersion
    outcome: IndexOutcome
    indexed_chunks: int
    total_chunks: int
    reason: str
    index_version: int
    produced_at: _timestamp_pb2.Timestamp
    def __init__(self, tenant: _Optional[str] = ..., doc_id: _Optional[str] = ..., version: _Optional[_Union[_common_pb2.DocumentVersion, _Mapping]] = ..., outcome: _Optional[_Union[IndexOutcome, str]] = ..., indexed_chunks: _Optional[int] = ..., total_chunks: _Optional[int] = ..., reason: _Optional[str] = ..., index_version: _Optional[int] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AnswerEvent(_message.Message):
    __slots__ = ("request_id", "tenant", "user_hash", "session_id", "query", "context", "answer", "citations", "model", "timings", "total_latency_ms", "ttft_ms", "usage", "input_verdict", "output_verdict", "cache", "error_code", "error_message", "produced_at", "error_status")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    USER_HASH_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    INPUT_VERDICT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_VERDICT_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_STATUS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    user_hash: str
    session_id: str
    query: str
    context: _containers.RepeatedCompositeFieldContainer[_common_pb2.Chunk]
    answer: str
    citations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Citation]
    model: str
    timings: _containers.RepeatedCompositeFieldContainer[_common_pb2.StageTiming]
    total_latency_ms: float
    ttft_ms: float
    usage: _common_pb2.Usage
    input_verdict: _common_pb2.GuardrailVerdict
    output_verdict: _common_pb2.GuardrailVerdict
    cache: _common_pb2.CacheOutcome
    error_code: str
    error_message: str
    produced_at: _timestamp_pb2.Timestamp
    error_status: _status_pb2.Status
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., user_hash: _Optional[str] = ..., session_id: _Optional[str] = ..., query: _Optional[str] = ..., context: _Optional[_Iterable[_Union[_common_pb2.Chunk, _Mapping]]] = ..., answer: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[_common_pb2.Citation, _Mapping]]] = ..., model: _Optional[str] = ..., timings: _Optional[_Iterable[_Union[_common_pb2.StageTiming, _Mapping]]] = ..., total_latency_ms: _Optional[float] = ..., ttft_ms: _Optional[float] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., input_verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ..., output_verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ..., cache: _Optional[_Union[_common_pb2.CacheOutcome, str]] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., error_status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class FeedbackEvent(_message.Message):
    __slots__ = ("request_id", "tenant", "user_hash", "rating", "comment", "corrected_answer", "produced_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    USER_HASH_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_ANSWER_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    user_hash: str
    rating: _common_pb2.FeedbackRating
    comment: str
    corrected_answer: str
    produced_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., user_hash: _Optional[str] = ..., rating: _Optional[_Union[_common_pb2.FeedbackRating, str]] = ..., comment: _Optional[str] = ..., corrected_answer: _Optional[str] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EvalEvent(_message.Message):
    __slots__ = ("request_id", "tenant", "scores", "reason", "produced_at")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PRODUCED_AT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant: str
    scores: _common_pb2.AnswerScores
    reason: str
    produced_at: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., tenant: _Optional[str] = ..., scores: _Optional[_Union[_common_pb2.AnswerScores, _Mapping]] = ..., reason: _Optional[str] = ..., produced_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
