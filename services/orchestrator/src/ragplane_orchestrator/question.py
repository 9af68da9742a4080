"""A question as the pipeline sees it: validated once, and the scope that keys the answer caches."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

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
    # Earlier turns the caller holds (AskRequest.history), as (role, text) with role 'user' or 'assistant'.
    history: list[tuple[str, str]] = field(default_factory=list)


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
    _validate_history(question, settings)
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


_HISTORY_ROLES = {common_pb2.CONVERSATION_ROLE_USER: "user", common_pb2.CONVERSATION_ROLE_ASSISTANT: "assistant"}


def history_of(turns) -> list[tuple[str, str]]:
    """AskRequest.history -> (role, text) pairs; a role other than user or assistant is kept as its enum name for
    ``validate`` to refuse."""
    return [(_HISTORY_ROLES.get(t.role) or _role_name(t.role), t.text) for t in turns]


def _role_name(role: int) -> str:
    try:
        return common_pb2.ConversationRole.Name(role)
    except ValueError:
        return str(role)


def _validate_history(question: Question, settings: Settings) -> None:
    history = question.history
    if not history:
        return
    if question.session_id:
        raise InvalidArgument(
            "history", "must be empty when session_id is set (the session holds the conversation's history)"
        )
    if len(history) > settings.max_history_turns:
        raise InvalidArgument("history", f"must be at most {settings.max_history_turns} turns, but got {len(history)}")
    for index, (role, text) in enumerate(history):
        if role not in ("user", "assistant"):
            raise InvalidArgument(
                f"history[{index}].role",
                f"must be CONVERSATION_ROLE_USER or CONVERSATION_ROLE_ASSISTANT, but got {role}",
            )
        if not text.strip():
            raise InvalidArgument(f"history[{index}].text", "must not be empty")
    chars = sum(len(text) for _, text in history)
    if chars > settings.max_history_chars:
        raise InvalidArgument(
            "history", f"must be at most {settings.max_history_chars} characters in all, but got {chars}"
        )


def cache_scope(question: Question, top_k: int, top_n: int) -> str:
    """Everything besides the question text that changes the answer, canonicalised for cache keys."""
    filters = [json_format.MessageToDict(f, preserving_proto_field_name=True) for f in question.filters]
    sampling = json_format.MessageToDict(question.options.sampling, preserving_proto_field_name=True)
    return json.dumps({"filters": filters, "top_k": top_k, "top_n": top_n, "sampling": sampling}, sort_keys=True)
