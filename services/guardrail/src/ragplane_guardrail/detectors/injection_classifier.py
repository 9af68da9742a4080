"""Learned prompt-injection classifiers: the ``prompt-guardrail`` TF-IDF model and an embedding head.

``TfidfClassifier`` wraps ``guardify`` (TF-IDF word 1-4-grams + logistic regression, ~1 ms). Its pickles
were written by scikit-learn 1.7.2; the service pins that version. If it is loaded under another version
anyway, scikit-learn warns, and the loader then re-scores reference texts whose probabilities were
recorded under 1.7.2 and refuses to run when any differs.

``EmbeddingClassifier`` is a logistic-regression head over all-MiniLM-L6-v2 sentence embeddings, trained
on the labelled sets in ``services/guardrail/datasets`` (``python -m ragplane_guardrail.training``) and
shipped as plain JSON weights. It generalises to paraphrases that share no words with known attacks.
Texts that neither address a model nor mention instructions (most plain questions) skip the encoder.
"""

from __future__ import annotations

import json
import re
import warnings
from importlib import resources
from typing import Any

import numpy as np

from ragplane_guardrail.embedding import SentenceEncoder
from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import Finding

INJECTION = "prompt_injection"
REFERENCE_TOLERANCE = 1e-6


def _resource_json(name: str) -> dict[str, Any]:
    return json.loads(resources.files("ragplane_guardrail.models").joinpath(name).read_text(encoding="utf-8"))


class TfidfClassifier:
    """``prompt-guardrail`` (import name ``guardify``) as a detector (``detector="classifier.tfidf"``)."""

    name = "classifier.tfidf"
    categories = frozenset({INJECTION})

    def __init__(self, min_score: float = 0.5) -> None:
        """Args:
        min_score: probabilities below this produce no finding.
        """
        self.min_score = min_score
        self._model: Any = None
        self.version_note = ""

    def load(self) -> None:
        """Unpickle the model and, if scikit-learn warned about its version, verify it against references.

        Raises:
            RuntimeError: the package is missing, or the model scores the reference texts differently from
                scikit-learn 1.7.2 (install scikit-learn==1.7.2).
        """
        try:
            from guardify.guardrails.logistic_regression import LogisticRegressionGuardrail
        except ImportError as exc:
            raise RuntimeError(
                "the TF-IDF injection classifier needs prompt-guardrail: pip install prompt-guardrail==1.0.1"
            ) from exc
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = LogisticRegressionGuardrail()
        version_warnings = [w for w in caught if type(w.message).__name__ == "InconsistentVersionWarning"]
        self._model = model
        if version_warnings:
            import sklearn

            worst = self.reference_deviation()
            if worst > REFERENCE_TOLERANCE:
                self._model = None
                raise RuntimeError(
                    f"prompt-guardrail was pickled with scikit-learn 1.7.2; under {sklearn.__version__} "
                    f"it scores the reference texts differently (max deviation {worst:.2e}); "
                    f"install scikit-learn==1.7.2"
                )
            self.version_note = (
                f"loaded under scikit-learn {sklearn.__version__}; reference scores match 1.7.2 within {worst:.1e}"
            )

    def reference_deviation(self) -> float:
        """Largest absolute difference from the probabilities recorded under scikit-learn 1.7.2."""
        reference = _resource_json("guardify_reference.json")
        scores = [self.probability(text) for text in reference["texts"]]
        return float(max(abs(a - b) for a, b in zip(scores, reference["probabilities"], strict=True)))

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def probability(self, text: str) -> float:
        """P(injection) for ``text`` as the package's model computes it."""
        if self._model is None:
            raise RuntimeError("TfidfClassifier used before load()")
        result = self._model.predict(text)
        score = float(result["score"])
        return score if result["label"] == "injection" else 1.0 - score

    def detect(self, text: Text) -> list[Finding]:
        probability = self.probability(text.deobfuscated.text)
        if probability < self.min_score:
            return []
        return [Finding(INJECTION, round(probability, 4), 0, 0, self.name, "TF-IDF classifier")]


# Words an instruction aimed at the model nearly always contains: addressing it ("you", "assistant"), naming
# its instructions or restrictions, or asking it to act, reveal or decode. A text with none of them (in the
# de-obfuscated view) and only Latin script is not sent through the encoder.
_ADDRESSES_MODEL = re.compile(
    r"\b(?:you|your|yours|yourself|u|ur|ai|assistants?|models?|bots?|chatbots?|gpt|chatgpt|llms?|agents?|system|"
    r"prompts?|instructions?|instruct|directions?|directives?|rules?|guidelines?|guidance|polic(?:y|ies)|"
    r"restrictions?|filters?|constraints?|ignor\w*|disregard\w*|forget|overlook|override|bypass|cancel|scrap|reveal|"
    r"pretend|act|acting|role\w*|mode|jailbr\w*|dan|developer|admin\w*|operators?|secret|hidden|confidential|"
    r"previous|prior|earlier|above|decode|base64|execute|run|command\w*|obey|comply|persona|character|unrestricted|"
    r"uncensored|unfiltered|ethic\w*|moral\w*|refus\w*|configur\w*|anweisungen|instrucciones|istruzioni|instrucoes|"
    r"instructies|consignes|regles|reglas|regeln|simulate|imagine|hypothetical\w*|fiction|story|game|translate|"
    r"repeat|print|output|dump|leak)\b"
)
_NON_LATIN = re.compile(r"[^\x00-\u024f\s]")


def addresses_model(text: Text) -> bool:
    """Cheap gate for the embedding classifier (see ``_ADDRESSES_MODEL``)."""
    return bool(_ADDRESSES_MODEL.search(text.deobfuscated.text) or _NON_LATIN.search(text.raw))


class EmbeddingClassifier:
    """Logistic-regression head over sentence embeddings (``detector="classifier.embedding"``)."""

    name = "classifier.embedding"
    categories = frozenset({INJECTION})

    def __init__(
        self, encoder: SentenceEncoder, min_score: float = 0.5, head: dict[str, Any] | None = None, gate: bool = True
    ) -> None:
        """Args:
        encoder: the shared sentence encoder (loaded by the service).
        min_score: probabilities below this produce no finding.
        head: weights as written by ``ragplane_guardrail.training``; default: the shipped head.
        gate: skip texts that ``addresses_model`` rejects (plain questions), saving an encoder call.
        """
        self.encoder = encoder
        self.min_score = min_score
        self.gate = gate
        self._head = head
        self._coef: np.ndarray | None = None
        self._intercept = 0.0

    def load(self) -> None:
        """Read the head's weights (the encoder is loaded separately)."""
        head = self._head if self._head is not None else _resource_json("injection_head.json")
        self._coef = np.asarray(head["coef"], dtype=np.float32)
        self._intercept = float(head["intercept"])

    @property
    def loaded(self) -> bool:
        return self._coef is not None and self.encoder.loaded

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """P(injection) per text."""
        if self._coef is None:
            raise RuntimeError("EmbeddingClassifier used before load()")
        vectors = self.encoder.encode(texts)
        return 1.0 / (1.0 + np.exp(-(vectors @ self._coef + self._intercept)))

    def detect(self, text: Text) -> list[Finding]:
        if self.gate and not addresses_model(text):
            return []
        probability = float(self.probabilities([text.deobfuscated.text])[0])
        if probability < self.min_score:
            return []
        return [Finding(INJECTION, round(probability, 4), 0, 0, self.name, "embedding classifier")]
