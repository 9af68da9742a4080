from ragplane.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateRequest(_message.Message):
    __slots__ = ("query", "context", "history", "sampling")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    query: str
    context: _containers.RepeatedCompositeFieldContainer[_common_pb2.Chunk]
    history: _containers.RepeatedCompositeFieldContainer[_common_pb2.ConversationTurn]
    sampling: _common_pb2.SamplingParams
    def __init__(self, query: _Optional[str] = ..., context: _Optional[_Iterable[_Union[_common_pb2.Chunk, _Mapping]]] = ..., history: _Optional[_Iterable[_Union[_common_pb2.ConversationTurn, _Mapping]]] = ..., sampling: _Optional[_Union[_common_pb2.SamplingParams, _Mapping]] = ...) -> None: ...

class GenerateStreamRequest(_message.Message):
    __slots__ = ("query", "context", "history", "sampling")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    query: str
    context: _containers.RepeatedCompositeFieldContainer[_common_pb2.Chunk]
    history: _containers.RepeatedCompositeFieldContainer[_common_pb2.ConversationTurn]
    sampling: _common_pb2.SamplingParams
    def __init__(self, query: _Optional[str] = ..., context: _Optional[_Iterable[_Union[_common_pb2.Chunk, _Mapping]]] = ..., history: _Optional[_Iterable[_Union[_common_pb2.ConversationTurn, _Mapping]]] = ..., sampling: _Optional[_Union[_common_pb2.SamplingParams, _Mapping]] = ...) -> None: ...

class GenerationResult(_message.Message):
    __slots__ = ("text", "citations", "dropped_citations", "usage", "model", "finish_reason", "ttft_ms", "truncated_passages")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_CITATIONS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_PASSAGES_FIELD_NUMBER: _ClassVar[int]
    text: str
    citations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Citation]
    dropped_citations: _containers.RepeatedScalarFieldContainer[int]
    usage: _common_pb2.Usage
    model: str
    finish_reason: str
    ttft_ms: float
    truncated_passages: int
    def __init__(self, text: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[_common_pb2.Citation, _Mapping]]] = ..., dropped_citations: _Optional[_Iterable[int]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., model: _Optional[str] = ..., finish_reason: _Optional[str] = ..., ttft_ms: _Optional[float] = ..., truncated_passages: _Optional[int] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: GenerationResult
    def __init__(self, result: _Optional[_Union[GenerationResult, _Mapping]] = ...) -> None: ...

class GenerateStreamResponse(_message.Message):
    __slots__ = ("delta", "result")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    delta: str
    result: GenerationResult
    def __init__(self, delta: _Optional[str] = ..., result: _Optional[_Union[GenerationResult, _Mapping]] = ...) -> None: ...
