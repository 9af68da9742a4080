from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConversationRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONVERSATION_ROLE_UNSPECIFIED: _ClassVar[ConversationRole]
    CONVERSATION_ROLE_USER: _ClassVar[ConversationRole]
    CONVERSATION_ROLE_ASSISTANT: _ClassVar[ConversationRole]

class GuardrailAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUARDRAIL_ACTION_UNSPECIFIED: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_ALLOW: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_MARK: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_REDACT: _ClassVar[GuardrailAction]
    GUARDRAIL_ACTION_BLOCK: _ClassVar[GuardrailAction]

class CacheOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CACHE_OUTCOME_UNSPECIFIED: _ClassVar[CacheOutcome]
    CACHE_OUTCOME_MISS: _ClassVar[CacheOutcome]
    CACHE_OUTCOME_EXACT_HIT: _ClassVar[CacheOutcome]
    CACHE_OUTCOME_SEMANTIC_HIT: _ClassVar[CacheOutcome]
    CACHE_OUTCOME_BYPASSED: _ClassVar[CacheOutcome]

class FeedbackRating(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_RATING_UNSPECIFIED: _ClassVar[FeedbackRating]
    FEEDBACK_RATING_THUMBS_UP: _ClassVar[FeedbackRating]
    FEEDBACK_RATING_THUMBS_DOWN: _ClassVar[FeedbackRating]
CONVERSATION_ROLE_UNSPECIFIED: ConversationRole
CONVERSATION_ROLE_USER: ConversationRole
CONVERSATION_ROLE_ASSISTANT: ConversationRole
GUARDRAIL_ACTION_UNSPECIFIED: GuardrailAction
GUARDRAIL_ACTION_ALLOW: GuardrailAction
GUARDRAIL_ACTION_MARK: GuardrailAction
GUARDRAIL_ACTION_REDACT: GuardrailAction
GUARDRAIL_ACTION_BLOCK: GuardrailAction
CACHE_OUTCOME_UNSPECIFIED: CacheOutcome
CACHE_OUTCOME_MISS: CacheOutcome
CACHE_OUTCOME_EXACT_HIT: CacheOutcome
CACHE_OUTCOME_SEMANTIC_HIT: CacheOutcome
CACHE_OUTCOME_BYPASSED: CacheOutcome
FEEDBACK_RATING_UNSPECIFIED: FeedbackRating
FEEDBACK_RATING_THUMBS_UP: FeedbackRating
FEEDBACK_RATING_THUMBS_DOWN: FeedbackRating

class DocumentVersion(_message.Message):
    __slots__ = ("content_hash", "sequence")
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    content_hash: str
    sequence: int
    def __init__(self, content_hash: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class SparseVector(_message.Message):
    __slots__ = ("indices", "values")
    INDICES_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    indices: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, indices: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("doc_id", "version", "chunk_index", "page", "section_path", "char_start", "char_end", "source", "title", "metadata")
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHUNK_INDEX_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SECTION_PATH_FIELD_NUMBER: _ClassVar[int]
    CHAR_START_FIELD_NUMBER: _ClassVar[int]
    CHAR_END_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    doc_id: str
    version: DocumentVersion
    chunk_index: int
    page: int
    section_path: _containers.RepeatedScalarFieldContainer[str]
    char_start: int
    char_end: int
    source: str
    title: str
    metadata: _struct_pb2.Struct
    def __init__(self, doc_id: _Optional[str] = ..., version: _Optional[_Union[DocumentVersion, _Mapping]] = ..., chunk_index: _Optional[int] = ..., page: _Optional[int] = ..., section_path: _Optional[_Iterable[str]] = ..., char_start: _Optional[int] = ..., char_end: _Optional[int] = ..., source: _Optional[str] = ..., title: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("chunk_id", "text", "provenance", "flags")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    text: str
    provenance: Provenance
    flags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk_id: _Optional[str] = ..., text: _Optional[str] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ..., flags: _Optional[_Iterable[str]] = ...) -> None: ...

class ScoredChunk(_message.Message):
    __slots__ = ("chunk", "retrieval_score", "rerank_score", "retrieval_rank")
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    RETRIEVAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    RERANK_SCORE_FIELD_NUMBER: _ClassVar[int]
    RETRIEVAL_RANK_FIELD_NUMBER: _ClassVar[int]
    chunk: Chunk
    retrieval_score: float
    rerank_score: float
    retrieval_rank: int
    def __init__(self, chunk: _Optional[_Union[Chunk, _Mapping]] = ..., retrieval_score: _Optional[float] = ..., rerank_score: _Optional[float] = ..., retrieval_rank: _Optional[int] = ...) -> None: ...

class FieldFilter(_message.Message):
    __slots__ = ("field", "equals", "any_of", "range", "negate")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    EQUALS_FIELD_NUMBER: _ClassVar[int]
    ANY_OF_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    NEGATE_FIELD_NUMBER: _ClassVar[int]
    field: str
    equals: _struct_pb2.Value
    any_of: _struct_pb2.ListValue
    range: NumericRange
    negate: bool
    def __init__(self, field: _Optional[str] = ..., equals: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., any_of: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., range: _Optional[_Union[NumericRange, _Mapping]] = ..., negate: _Optional[bool] = ...) -> None: ...

class NumericRange(_message.Message):
    __slots__ = ("gt", "gte", "lt", "lte")
    GT_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    gt: float
    gte: float
    lt: float
    lte: float
    def __init__(self, gt: _Optional[float] = ..., gte: _Optional[float] = ..., lt: _Optional[float] = ..., lte: _Optional[float] = ...) -> None: ...

class Citation(_message.Message):
    __slots__ = ("passage_number", "chunk_id", "doc_id", "page", "source", "section_path", "title")
    PASSAGE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOC_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SECTION_PATH_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    passage_number: int
    chunk_id: str
    doc_id: str
    page: int
    source: str
    section_path: _containers.RepeatedScalarFieldContainer[str]
    title: str
    def __init__(self, passage_number: _Optional[int] = ..., chunk_id: _Optional[str] = ..., doc_id: _Optional[str] = ..., page: _Optional[int] = ..., source: _Optional[str] = ..., section_path: _Optional[_Iterable[str]] = ..., title: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class SamplingParams(_message.Message):
    __slots__ = ("max_tokens", "temperature", "top_p", "stop", "seed")
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    max_tokens: int
    temperature: float
    top_p: float
    stop: _containers.RepeatedScalarFieldContainer[str]
    seed: int
    def __init__(self, max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., stop: _Optional[_Iterable[str]] = ..., seed: _Optional[int] = ...) -> None: ...

class ConversationTurn(_message.Message):
    __slots__ = ("role", "text")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    role: ConversationRole
    text: str
    def __init__(self, role: _Optional[_Union[ConversationRole, str]] = ..., text: _Optional[str] = ...) -> None: ...

class GuardrailFinding(_message.Message):
    __slots__ = ("category", "score", "start", "end", "detector", "message", "action")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    category: str
    score: float
    start: int
    end: int
    detector: str
    message: str
    action: GuardrailAction
    def __init__(self, category: _Optional[str] = ..., score: _Optional[float] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., detector: _Optional[str] = ..., message: _Optional[str] = ..., action: _Optional[_Union[GuardrailAction, str]] = ...) -> None: ...

class GuardrailVerdict(_message.Message):
    __slots__ = ("action", "findings", "redacted_text", "policy", "latency_ms")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    REDACTED_TEXT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    action: GuardrailAction
    findings: _containers.RepeatedCompositeFieldContainer[GuardrailFinding]
    redacted_text: str
    policy: str
    latency_ms: float
    def __init__(self, action: _Optional[_Union[GuardrailAction, str]] = ..., findings: _Optional[_Iterable[_Union[GuardrailFinding, _Mapping]]] = ..., redacted_text: _Optional[str] = ..., policy: _Optional[str] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "latency_ms")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    latency_ms: float
    def __init__(self, stage: _Optional[str] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class AnswerScores(_message.Message):
    __slots__ = ("faithfulness", "answer_relevance", "context_relevance", "exact_match", "f1", "judge", "context_precision", "context_recall")
    FAITHFULNESS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_RELEVANCE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_RELEVANCE_FIELD_NUMBER: _ClassVar[int]
    EXACT_MATCH_FIELD_NUMBER: _ClassVar[int]
    F1_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_PRECISION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_RECALL_FIELD_NUMBER: _ClassVar[int]
    faithfulness: float
    answer_relevance: float
    context_relevance: float
    exact_match: float
    f1: float
    judge: str
    context_precision: float
    context_recall: float
    def __init__(self, faithfulness: _Optional[float] = ..., answer_relevance: _Optional[float] = ..., context_relevance: _Optional[float] = ..., exact_match: _Optional[float] = ..., f1: _Optional[float] = ..., judge: _Optional[str] = ..., context_precision: _Optional[float] = ..., context_recall: _Optional[float] = ...) -> None: ...
