import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from ragplane.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EvaluateAnswerRequest(_message.Message):
    __slots__ = ("question", "answer", "context", "reference_answers", "relevant_doc_ids")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_ANSWERS_FIELD_NUMBER: _ClassVar[int]
    RELEVANT_DOC_IDS_FIELD_NUMBER: _ClassVar[int]
    question: str
    answer: str
    context: _containers.RepeatedCompositeFieldContainer[_common_pb2.Chunk]
    reference_answers: _containers.RepeatedScalarFieldContainer[str]
    relevant_doc_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, question: _Optional[str] = ..., answer: _Optional[str] = ..., context: _Optional[_Iterable[_Union[_common_pb2.Chunk, _Mapping]]] = ..., reference_answers: _Optional[_Iterable[str]] = ..., relevant_doc_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateAnswerResponse(_message.Message):
    __slots__ = ("scores",)
    SCORES_FIELD_NUMBER: _ClassVar[int]
    scores: _common_pb2.AnswerScores
    def __init__(self, scores: _Optional[_Union[_common_pb2.AnswerScores, _Mapping]] = ...) -> None: ...

class RunDatasetRequest(_message.Message):
    __slots__ = ("dataset_path", "limit", "seed", "retrieval_only", "skip_ingest")
    DATASET_PATH_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    RETRIEVAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    SKIP_INGEST_FIELD_NUMBER: _ClassVar[int]
    dataset_path: str
    limit: int
    seed: int
    retrieval_only: bool
    skip_ingest: bool
    def __init__(self, dataset_path: _Optional[str] = ..., limit: _Optional[int] = ..., seed: _Optional[int] = ..., retrieval_only: _Optional[bool] = ..., skip_ingest: _Optional[bool] = ...) -> None: ...

class RunProgress(_message.Message):
    __slots__ = ("phase", "done", "total")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    phase: str
    done: int
    total: int
    def __init__(self, phase: _Optional[str] = ..., done: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class Metric(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class EvalReport(_message.Message):
    __slots__ = ("run_id", "dataset", "questions", "metrics", "started_at", "finished_at", "rows_path", "tenant", "retrieval_only", "judge")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    QUESTIONS_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ROWS_PATH_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    RETRIEVAL_ONLY_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    dataset: str
    questions: int
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    rows_path: str
    tenant: str
    retrieval_only: bool
    judge: str
    def __init__(self, run_id: _Optional[str] = ..., dataset: _Optional[str] = ..., questions: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rows_path: _Optional[str] = ..., tenant: _Optional[str] = ..., retrieval_only: _Optional[bool] = ..., judge: _Optional[str] = ...) -> None: ...

class RankedDocuments(_message.Message):
    __slots__ = ("mode", "doc_ids")
    MODE_FIELD_NUMBER: _ClassVar[int]
    DOC_IDS_FIELD_NUMBER: _ClassVar[int]
    mode: str
    doc_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, mode: _Optional[str] = ..., doc_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class QuestionResult(_message.Message):
    __slots__ = ("question_id", "question", "reference_answers", "relevant_doc_ids", "answer", "blocked", "retrieved", "metrics", "error", "cited_doc_ids", "request_id", "error_status")
    QUESTION_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_ANSWERS_FIELD_NUMBER: _ClassVar[int]
    RELEVANT_DOC_IDS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    RETRIEVED_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CITED_DOC_IDS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_STATUS_FIELD_NUMBER: _ClassVar[int]
    question_id: str
    question: str
    reference_answers: _containers.RepeatedScalarFieldContainer[str]
    relevant_doc_ids: _containers.RepeatedScalarFieldContainer[str]
    answer: str
    blocked: bool
    retrieved: _containers.RepeatedCompositeFieldContainer[RankedDocuments]
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    error: str
    cited_doc_ids: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    error_status: _status_pb2.Status
    def __init__(self, question_id: _Optional[str] = ..., question: _Optional[str] = ..., reference_answers: _Optional[_Iterable[str]] = ..., relevant_doc_ids: _Optional[_Iterable[str]] = ..., answer: _Optional[str] = ..., blocked: _Optional[bool] = ..., retrieved: _Optional[_Iterable[_Union[RankedDocuments, _Mapping]]] = ..., metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ..., error: _Optional[str] = ..., cited_doc_ids: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., error_status: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class RunDatasetResponse(_message.Message):
    __slots__ = ("progress", "report", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: RunProgress
    report: EvalReport
    result: QuestionResult
    def __init__(self, progress: _Optional[_Union[RunProgress, _Mapping]] = ..., report: _Optional[_Union[EvalReport, _Mapping]] = ..., result: _Optional[_Union[QuestionResult, _Mapping]] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: EvalReport
    def __init__(self, report: _Optional[_Union[EvalReport, _Mapping]] = ...) -> None: ...
