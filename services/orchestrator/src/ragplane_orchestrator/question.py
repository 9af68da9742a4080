"""A question as the pipeline sees it: validated once, and the scope that keys the answer caches."""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf import json_format

from ragplane.runtime.errors import InvalidArgument
from ragplane.v1 import common_pb2, rag_pb2
from ragplane_orchestrator.config import Settings
from ragplane_orchestrator.sessions import validate_session_id


@dataclass
class Question:
    query: str
    session_id: str
    filters: list[common_pb2.FieldFilter]
    options: rag_pb2.AskOptions


def validate(question: Question, settings: Settings) -> None:
    """Refuse a malformed question before any stage runs.

    Raises:
        InvalidArgument: naming the field and the bad value.
    """
    if not question.query.strip():
        raise InvalidArgument("query", "must not be empty")
    if len(question.query) > settings.max_query_chars:
        raise InvalidArgument(
            "query", f"must be at most {settings.max_query_chars} characters, but got {len(question.query)}"
        )
    if question.session_id:
        validate_session_id(question.session_id)
    options = question.options
    if options.top_k > 200:
        raise InvalidArgument("options.top_k", f"must be <= 200, but got {options.top_k}")
    if options.top_n and options.top_k and options.top_n > options.top_k:
        raise InvalidArgument("options.top_n", f"must be <= options.top_k ({options.top_k}), but got {options.top_n}")
    if options.sampling.max_tokens > 4096:
        raise InvalidArgument("options.sampling.max_tokens", f"must be <= 4096, but got {options.sampling.max_tokens}")
    for index, condition in enumerate(question.filters):
        if not condition.field:
            raise InvalidArgument(f"filters[{index}].field", "must not be empty")


def cache_scope(question: Question, top_k: int, top_n: int) -> str:
    """Everything besides the question text that changes the answer, canonicalised for cache keys."""
    filters = [json_format.MessageToDict(f, preserving_proto_field_name=True) for f in question.filters]
    sampling = json_format.MessageToDict(question.options.sampling, preserving_proto_field_name=True)
    return json.dumps({"filters": filters, "top_k": top_k, "top_n": top_n, "sampling": sampling}, sort_keys=True)
