"""The guardrail service's core wiring: policies and detectors, servicer registration, start and stop."""

from __future__ import annotations

from typing import Any

import grpc

from ragplane.runtime.logs import get_logger
from ragplane.runtime.settings import SettingsError
from ragplane.v1 import guardrail_pb2_grpc
from ragplane_guardrail.config import Settings
from ragplane_guardrail.detectors.injection_classifier import EmbeddingClassifier, TfidfClassifier
from ragplane_guardrail.detectors.injection_rules import InjectionRules
from ragplane_guardrail.detectors.pii_patterns import PiiPatterns
from ragplane_guardrail.detectors.pii_presidio import PresidioNer
from ragplane_guardrail.detectors.toxicity import Toxicity
from ragplane_guardrail.embedding import SentenceEncoder
from ragplane_guardrail.engine import EngineDetectors, GuardrailEngine
from ragplane_guardrail.grounding import Grounding
from ragplane_guardrail.policy import PolicyError, PolicySet, load_policies
from ragplane_guardrail.servicer import GuardrailServiceServicer
from ragplane_guardrail.workers import CheckPool

log = get_logger(__name__)


def build_detectors(settings: Settings) -> tuple[EngineDetectors, SentenceEncoder | None, list[Any]]:
    """The detectors the settings ask for, not yet loaded, plus the encoder and the things to load."""
    encoder = (
        SentenceEncoder(settings.encoder_path, settings.torch_threads)
        if settings.embedding_classifier or settings.semantic_grounding
        else None
    )
    injection: list[Any] = [InjectionRules()]
    to_load: list[Any] = []
    if encoder is not None:
        to_load.append(encoder)
    if settings.tfidf_classifier:
        injection.append(TfidfClassifier())
        to_load.append(injection[-1])
    document_injection = list(injection)
    if settings.embedding_classifier and encoder is not None:
        injection.append(EmbeddingClassifier(encoder, gate=settings.classifier_gate))
        to_load.append(injection[-1])
        if settings.document_embedding_classifier:
            document_injection.append(injection[-1])
    pii: list[Any] = [PiiPatterns(settings.phone_region)]
    if settings.presidio:
        pii.append(PresidioNer(settings.spacy_model, gate=settings.presidio_gate))
        to_load.append(pii[-1])
    detectors = EngineDetectors(tuple(injection), tuple(pii), (Toxicity(),), tuple(document_injection))
    return detectors, encoder, to_load


class GuardrailApp:
    """Guardrail service core: builds policies, detectors and the engine in ``__init__``, loads models in
    ``start()``."""

    name = "guardrail"

    def __init__(self, settings: Settings) -> None:
        """Raises:
        SettingsError: the policy file is invalid (the message names the YAML key).
        """
        self.settings = settings
        try:
            self.policies: PolicySet = load_policies(settings.policy_file or None)
        except PolicyError as exc:
            raise SettingsError(f"RAGPLANE_GUARDRAIL_POLICY_FILE: {exc}") from None
        self._detectors, self._encoder, self._to_load = build_detectors(settings)
        # The engine holds the detectors, not their models: they load in start(), before any call is served.
        self.engine = self.build_engine()
        self.pool = CheckPool(settings.workers)

    def register(self, server: grpc.aio.Server) -> list[str]:
        servicer = GuardrailServiceServicer(engine=self.engine, pool=self.pool, settings=self.settings)
        guardrail_pb2_grpc.add_GuardrailServiceServicer_to_server(servicer, server)
        return ["ragplane.v1.GuardrailService"]

    async def start(self) -> None:
        """Load the classifiers, the NER model and the encoder, in the worker pool."""
        for component in self._to_load:
            if getattr(component, "loaded", False):
                continue
            await self.pool.run(component.load)
            note = getattr(component, "version_note", "")
            log.info("loaded", component=type(component).__name__, **({"note": note} if note else {}))
        log.info("guardrail ready", policies=sorted(self.policies.policies), tenants=len(self.policies.tenants))

    def build_engine(self) -> GuardrailEngine:
        """The engine over this app's policies and (loaded) detectors."""
        grounding = Grounding(self._encoder if self.settings.semantic_grounding else None)
        return GuardrailEngine(self.policies, self._detectors, grounding, self.settings.log_content)

    def load_models(self) -> None:
        """Load every model synchronously (tools and tests; ``start()`` does the same in a worker thread)."""
        for component in self._to_load:
            if not getattr(component, "loaded", False):
                component.load()

    async def stop(self) -> None:
        self.pool.shutdown()
