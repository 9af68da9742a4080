from ragplane.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckInputRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class CheckInputResponse(_message.Message):
    __slots__ = ("verdict",)
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    verdict: _common_pb2.GuardrailVerdict
    def __init__(self, verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ...) -> None: ...

class CheckOutputRequest(_message.Message):
    __slots__ = ("query", "answer", "context", "citations")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    query: str
    answer: str
    context: _containers.RepeatedCompositeFieldContainer[_common_pb2.Chunk]
    citations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Citation]
    def __init__(self, query: _Optional[str] = ..., answer: _Optional[str] = ..., context: _Optional[_Iterable[_Union[_common_pb2.Chunk, _Mapping]]] = ..., citations: _Optional[_Iterable[_Union[_common_pb2.Citation, _Mapping]]] = ...) -> None: ...

class UnsupportedSentence(_message.Message):
    __slots__ = ("text", "start", "end", "support")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_FIELD_NUMBER: _ClassVar[int]
    text: str
    start: int
    end: int
    support: float
    def __init__(self, text: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., support: _Optional[float] = ...) -> None: ...

class CheckOutputResponse(_message.Message):
    __slots__ = ("verdict", "unsupported", "grounding_score", "invalid_citations")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    UNSUPPORTED_FIELD_NUMBER: _ClassVar[int]
    GROUNDING_SCORE_FIELD_NUMBER: _ClassVar[int]
    INVALID_CITATIONS_FIELD_NUMBER: _ClassVar[int]
    verdict: _common_pb2.GuardrailVerdict
    unsupported: _containers.RepeatedCompositeFieldContainer[UnsupportedSentence]
    grounding_score: float
    invalid_citations: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ..., unsupported: _Optional[_Iterable[_Union[UnsupportedSentence, _Mapping]]] = ..., grounding_score: _Optional[float] = ..., invalid_citations: _Optional[_Iterable[int]] = ...) -> None: ...

class ScanDocumentRequest(_message.Message):
    __slots__ = ("doc_id", "chunks")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    chunks: _containers.RepeatedCompositeFieldContainer[_common_pb2.Chunk]
    def __init__(self, doc_id: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[_common_pb2.Chunk, _Mapping]]] = ...) -> None: ...

class ChunkVerdict(_message.Message):
    __slots__ = ("chunk_index", "verdict")
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    chunk_index: int
    verdict: _common_pb2.GuardrailVerdict
    def __init__(self, chunk_index: _Optional[int] = ..., verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ...) -> None: ...

class ScanDocumentResponse(_message.Message):
    __slots__ = ("verdicts",)
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    verdicts: _containers.RepeatedCompositeFieldContainer[ChunkVerdict]
    def __init__(self, verdicts: _Optional[_Iterable[_Union[ChunkVerdict, _Mapping]]] = ...) -> None: ...
