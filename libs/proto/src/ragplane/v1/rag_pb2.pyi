from google.protobuf import struct_pb2 as _struct_pb2
from ragplane.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AskOptions(_message.Message):
    __slots__ = ("top_k", "top_n", "sampling", "bypass_cache")
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TOP_N_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    top_k: int
    top_n: int
    sampling: _common_pb2.SamplingParams
    bypass_cache: bool
    def __init__(self, top_k: _Optional[int] = ..., top_n: _Optional[int] = ..., sampling: _Optional[_Union[_common_pb2.SamplingParams, _Mapping]] = ..., bypass_cache: _Optional[bool] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("query", "session_id", "filters", "options", "history")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    query: str
    session_id: str
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FieldFilter]
    options: AskOptions
    history: _containers.RepeatedCompositeFieldContainer[_common_pb2.ConversationTurn]
    def __init__(self, query: _Optional[str] = ..., session_id: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FieldFilter, _Mapping]]] = ..., options: _Optional[_Union[AskOptions, _Mapping]] = ..., history: _Optional[_Iterable[_Union[_common_pb2.ConversationTurn, _Mapping]]] = ...) -> None: ...

class AskStreamRequest(_message.Message):
    __slots__ = ("query", "session_id", "filters", "options", "history")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    query: str
    session_id: str
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FieldFilter]
    options: AskOptions
    history: _containers.RepeatedCompositeFieldContainer[_common_pb2.ConversationTurn]
    def __init__(self, query: _Optional[str] = ..., session_id: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FieldFilter, _Mapping]]] = ..., options: _Optional[_Union[AskOptions, _Mapping]] = ..., history: _Optional[_Iterable[_Union[_common_pb2.ConversationTurn, _Mapping]]] = ...) -> None: ...

class AnswerResult(_message.Message):
    __slots__ = ("request_id", "answer", "citations", "blocked", "input_verdict", "output_verdict", "cache", "usage", "model", "timings", "session_id", "dropped_citations")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    INPUT_VERDICT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_VERDICT_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DROPPED_CITATIONS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    answer: str
    citations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Citation]
    blocked: bool
    input_verdict: _common_pb2.GuardrailVerdict
    output_verdict: _common_pb2.GuardrailVerdict
    cache: _common_pb2.CacheOutcome
    usage: _common_pb2.Usage
    model: str
    timings: _containers.RepeatedCompositeFieldContainer[_common_pb2.StageTiming]
    session_id: str
    dropped_citations: int
    def __init__(self, request_id: _Optional[str] = ..., answer: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[_common_pb2.Citation, _Mapping]]] = ..., blocked: _Optional[bool] = ..., input_verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ..., output_verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ..., cache: _Optional[_Union[_common_pb2.CacheOutcome, str]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., model: _Optional[str] = ..., timings: _Optional[_Iterable[_Union[_common_pb2.StageTiming, _Mapping]]] = ..., session_id: _Optional[str] = ..., dropped_citations: _Optional[int] = ...) -> None: ...

class AskResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: AnswerResult
    def __init__(self, result: _Optional[_Union[AnswerResult, _Mapping]] = ...) -> None: ...

class AskStreamResponse(_message.Message):
    __slots__ = ("delta", "result")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    delta: str
    result: AnswerResult
    def __init__(self, delta: _Optional[str] = ..., result: _Optional[_Union[AnswerResult, _Mapping]] = ...) -> None: ...

class FeedbackRequest(_message.Message):
    __slots__ = ("request_id", "rating", "comment", "corrected_answer")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CORRECTED_ANSWER_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    rating: _common_pb2.FeedbackRating
    comment: str
    corrected_answer: str
    def __init__(self, request_id: _Optional[str] = ..., rating: _Optional[_Union[_common_pb2.FeedbackRating, str]] = ..., comment: _Optional[str] = ..., corrected_answer: _Optional[str] = ...) -> None: ...

class FeedbackResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RagServiceSearchRequest(_message.Message):
    __slots__ = ("query", "filters", "top_k", "rerank")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    query: str
    filters: _containers.RepeatedCompositeFieldContainer[_common_pb2.FieldFilter]
    top_k: int
    rerank: bool
    def __init__(self, query: _Optional[str] = ..., filters: _Optional[_Iterable[_Union[_common_pb2.FieldFilter, _Mapping]]] = ..., top_k: _Optional[int] = ..., rerank: _Optional[bool] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("rank", "score", "retrieval_score", "rerank_score", "chunk_id", "doc_id", "text", "title", "source", "page", "section_path", "chunk_index", "char_start", "char_end", "metadata", "flags")
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RETRIEVAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    RERANK_SCORE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SECTION_PATH_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    rank: int
    score: float
    retrieval_score: float
    rerank_score: float
    chunk_id: str
    doc_id: str
    text: str
    title: str
    source: str
    page: int
    section_path: _containers.RepeatedScalarFieldContainer[str]
    chunk_index: int
    char_start: int
    char_end: int
    metadata: _struct_pb2.Struct
    flags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rank: _Optional[int] = ..., score: _Optional[float] = ..., retrieval_score: _Optional[float] = ..., rerank_score: _Optional[float] = ..., chunk_id: _Optional[str] = ..., doc_id: _Optional[str] = ..., text: _Optional[str] = ..., title: _Optional[str] = ..., source: _Optional[str] = ..., page: _Optional[int] = ..., section_path: _Optional[_Iterable[str]] = ..., chunk_index: _Optional[int] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., flags: _Optional[_Iterable[str]] = ...) -> None: ...

class RagServiceSearchResponse(_message.Message):
    __slots__ = ("request_id", "hits", "blocked", "input_verdict", "reranked", "timings")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    INPUT_VERDICT_FIELD_NUMBER: _ClassVar[int]
    RERANKED_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    blocked: bool
    input_verdict: _common_pb2.GuardrailVerdict
    reranked: bool
    timings: _containers.RepeatedCompositeFieldContainer[_common_pb2.StageTiming]
    def __init__(self, request_id: _Optional[str] = ..., hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., blocked: _Optional[bool] = ..., input_verdict: _Optional[_Union[_common_pb2.GuardrailVerdict, _Mapping]] = ..., reranked: _Optional[bool] = ..., timings: _Optional[_Iterable[_Union[_common_pb2.StageTiming, _Mapping]]] = ...) -> None: ...
