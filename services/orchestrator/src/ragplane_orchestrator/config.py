"""Settings of the orchestrator, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass

from ragplane.runtime.services import local_address
from ragplane.runtime.settings import (
    CommonSettings,
    env,
    fraction,
    load_settings,
    non_negative,
    parse_hostport,
    positive,
)


def parse_rate_limits(raw: str) -> dict[str, tuple[int, int]]:
    """``default=60:100000,tenant-a=10:5000`` -> {tenant: (requests per minute, tokens per minute)}; 0 = no limit."""
    limits: dict[str, tuple[int, int]] = {}
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        tenant, sep, values = entry.partition("=")
        rpm, colon, tpm = values.partition(":")
        if not sep or not colon or not rpm.isdigit() or not tpm.isdigit() or not tenant.strip():
            raise ValueError(f"entry {entry!r} is not tenant=requests_per_minute:tokens_per_minute")
        limits[tenant.strip()] = (int(rpm), int(tpm))
    return limits


@dataclass(frozen=True)
class Settings(CommonSettings):
    guardrail_addr: str = env(
        "RAGPLANE_GUARDRAIL_ADDR", local_address("guardrail"), parse=parse_hostport, doc="guardrail service"
    )
    embed_addr: str = env("RAGPLANE_EMBED_ADDR", local_address("embed"), parse=parse_hostport, doc="embed service")
    retrieve_addr: str = env(
        "RAGPLANE_RETRIEVE_ADDR", local_address("retrieve"), parse=parse_hostport, doc="retrieve service"
    )
    rerank_addr: str = env("RAGPLANE_RERANK_ADDR", local_address("rerank"), parse=parse_hostport, doc="rerank service")
    generate_addr: str = env(
        "RAGPLANE_GENERATE_ADDR", local_address("generate"), parse=parse_hostport, doc="generate service"
    )
    top_k: int = env("RAGPLANE_TOP_K", 20, check=positive, doc="retrieval candidates per question")
    top_n: int = env("RAGPLANE_TOP_N", 5, check=positive, doc="passages kept after rerank for the prompt")
    max_query_chars: int = env(
        "RAGPLANE_MAX_QUERY_CHARS", 4000, check=positive, doc="longest question accepted (INVALID_ARGUMENT beyond)"
    )
    max_history_turns: int = env(
        "RAGPLANE_MAX_HISTORY_TURNS",
        20,
        check=positive,
        doc="most earlier turns a caller may send in a request's history (INVALID_ARGUMENT beyond)",
    )
    max_history_chars: int = env(
        "RAGPLANE_MAX_HISTORY_CHARS",
        8000,
        check=positive,
        doc="most characters in all of a request's history turns (INVALID_ARGUMENT beyond); the input guardrail "
        "checks them as one text, so keep it within its input max_chars (8000 by default)",
    )
    exact_cache_ttl_s: int = env(
        "RAGPLANE_EXACT_CACHE_TTL_S", 3600, check=non_negative, doc="exact-match answer cache TTL; 0 disables the cache"
    )
    semantic_cache_ttl_s: int = env(
        "RAGPLANE_SEMANTIC_CACHE_TTL_S", 3600, check=non_negative, doc="semantic answer cache TTL; 0 disables the cache"
    )
    semantic_threshold: float = env(
        "RAGPLANE_SEMANTIC_CACHE_THRESHOLD",
        0.9,
        check=fraction,
        doc="cosine similarity of question embeddings needed for a semantic hit",
    )
    semantic_max_entries: int = env(
        "RAGPLANE_SEMANTIC_CACHE_MAX_ENTRIES", 2000, check=positive, doc="entries kept per tenant and index version"
    )
    session_ttl_s: int = env("RAGPLANE_SESSION_TTL_S", 86400, check=positive, doc="idle time before a session expires")
    session_max_turns: int = env(
        "RAGPLANE_SESSION_MAX_TURNS",
        20,
        check=positive,
        doc="turns kept per session (the generate service trims them to its token budget)",
    )
    rate_limits: str = env(
        "RAGPLANE_RATE_LIMITS",
        "default=600:200000",
        check=lambda raw: _check_limits(raw),
        doc="per-tenant 'tenant=rpm:tpm' list; 'default' applies to other tenants; 0 = unlimited",
    )
    feedback_rate_limit: int = env(
        "RAGPLANE_FEEDBACK_RATE_LIMIT",
        600,
        check=non_negative,
        doc="Feedback requests per tenant per minute (RESOURCE_EXHAUSTED with retry-after beyond); 0 = unlimited",
    )
    events_max_in_flight: int = env(
        "RAGPLANE_EVENTS_MAX_IN_FLIGHT",
        1000,
        check=positive,
        doc="answer and feedback events waiting for the broker at once; beyond, events are dropped and counted",
    )
    answers_topic: str = env("RAGPLANE_ANSWERS_TOPIC", "ragplane.answers.v1", doc="answer events")
    feedback_topic: str = env("RAGPLANE_FEEDBACK_TOPIC", "ragplane.feedback.v1", doc="feedback events")
    indexed_topic: str = env(
        "RAGPLANE_INDEXED_TOPIC", "ragplane.indexed.v1", doc="index change events (they invalidate the caches)"
    )
    cache_group: str = env(
        "RAGPLANE_ORCHESTRATOR_CACHE_GROUP", "ragplane-orchestrator-cache", doc="consumer group following index changes"
    )
    user_hash_salt: str = env("RAGPLANE_USER_HASH_SALT", "ragplane", doc="salt of hashed user ids in events")
    stream_check_sentences: bool = env(
        "RAGPLANE_STREAM_CHECK_SENTENCES",
        True,
        doc="AskStream: check each sentence with the output guardrail before sending",
    )
    stream_hold_until_checked: bool = env(
        "RAGPLANE_STREAM_HOLD_UNTIL_CHECKED",
        True,
        doc="AskStream: send no text before the whole answer passed the output guardrail; false streams early "
        "(sentence-checked) and a final result with blocked=true then retracts what was shown",
    )


def _check_limits(raw: str) -> str | None:
    try:
        parse_rate_limits(raw)
    except ValueError as exc:
        return str(exc)
    return None


def load() -> Settings:
    return load_settings(Settings)
