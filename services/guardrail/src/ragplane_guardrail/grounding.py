"""Grounding: which answer sentences have support in the context passages.

Each answer sentence with at least two content words is scored against the passages:
- lexical support: the share of its content words (light stemming; number words read as digits; numbers
  count double) found in one passage; the best passage wins;
- semantic support (when an encoder is given): cosine similarity between the sentence and the most
  word-overlapping passage sentences, mapped linearly from [0.35, 0.80] onto [0, 1]. It only runs for
  sentences the lexical score leaves unsupported, so answers that quote their sources cost no model call.
Support is the larger of the two, capped at NUMBER_CAP when the sentence states a number that no passage
contains: a wrong figure is the commonest unsupported claim, and embeddings barely see numbers.
Refusals ("the context does not say") make no claim and are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ragplane.runtime.citations import replace_markers
from ragplane_guardrail.embedding import SentenceEncoder
from ragplane_guardrail.text import split_sentences

STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off
on once only or other our ours ourselves out over own same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves may might must shall also however
therefore thus according based per via within without yes one two etc e.g i.e
""".split()
)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_][\w'-]*")
_REFUSAL = re.compile(
    r"\b(?:i (?:don't|do not|cannot|can't) (?:know|find|answer)|(?:context|passages?|documents?|sources?)"
    r" (?:does|do) not (?:contain|mention|say|include|provide|specify)|not enough information|"
    r"no information (?:about|on)|unable to (?:find|answer)|unanswerable)\b",
    re.IGNORECASE,
)
# Cosine 0.35 -> support 0, 0.80 -> 1; with the default cut-off (support 0.55) a sentence needs cosine >= 0.60
# to a context sentence. Chosen on datasets/grounding.jsonl (README, "Figures").
SEMANTIC_LOW, SEMANTIC_HIGH = 0.35, 0.80
_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORD = re.compile(
    r"\b(" + "|".join(_TENS) + r")(?:[- ](" + "|".join(k for k in _UNITS if k != "zero") + r"))?\b"
    r"|\b(" + "|".join(_UNITS) + r")\b"
)


def _number_words_to_digits(text: str) -> str:
    def convert(match: re.Match[str]) -> str:
        if match.group(1):
            return str(_TENS[match.group(1)] + (_UNITS[match.group(2)] if match.group(2) else 0))
        return str(_UNITS[match.group(3)])

    return _NUMBER_WORD.sub(convert, text)


SEMANTIC_CANDIDATES = 8
NUMBER_CAP = 0.5


def _stem(token: str) -> str:
    if token[0].isdigit():
        return token.replace(",", "")
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("ches", "shes", "sses", "xes", "zes")):
        return token[:-2]
    for suffix in ("ing", "ed", "s"):
        if token.endswith(suffix) and not token.endswith("ss") and len(token) - len(suffix) >= 3:
            return token[: len(token) - len(suffix)]
    return token


def content_terms(text: str) -> list[str]:
    """Lower-cased, lightly stemmed tokens without stopwords or citation markers."""
    text = _number_words_to_digits(replace_markers(text.lower(), lambda _: " "))
    return [_stem(token) for token in _TOKEN.findall(text) if token not in STOPWORDS]


@dataclass(frozen=True)
class SentenceSupport:
    """Support of one answer sentence; ``assessed`` is False for refusals and sentences without claims."""

    start: int
    end: int
    support: float
    assessed: bool


class Grounding:
    """Scores answer sentences against context passages (see module docstring)."""

    def __init__(self, encoder: SentenceEncoder | None = None) -> None:
        """Args:
        encoder: a loaded sentence encoder for semantic support; None for lexical support only.
        """
        self.encoder = encoder

    def assess(self, answer: str, passages: list[str], supported_at: float) -> list[SentenceSupport]:
        """Support per answer sentence.

        Args:
            answer: the answer text.
            passages: the context passages, in prompt order.
            supported_at: support at or above which a sentence counts as supported; semantic support is
                only computed for sentences below it.
        """
        passage_terms = [set(content_terms(passage)) for passage in passages]
        known_numbers = {term for terms in passage_terms for term in terms if term[0].isdigit()}
        results: list[SentenceSupport] = []
        pending: list[int] = []
        capped: set[int] = set()
        for start, end in split_sentences(answer):
            sentence = answer[start:end]
            terms = content_terms(sentence)
            if len(terms) < 2 or _REFUSAL.search(sentence):
                results.append(SentenceSupport(start, end, 1.0, False))
                continue
            support = max((_lexical(terms, own) for own in passage_terms), default=0.0)
            if any(term[0].isdigit() and term not in known_numbers for term in terms):
                support = min(support, NUMBER_CAP)
                capped.add(len(results))
            results.append(SentenceSupport(start, end, round(support, 4), True))
            if support < supported_at and len(results) - 1 not in capped:
                pending.append(len(results) - 1)
        if pending and passages and self.encoder is not None and self.encoder.loaded:
            self._semantic(answer, passages, results, pending)
        return results

    def _semantic(self, answer: str, passages: list[str], results: list[SentenceSupport], pending: list[int]) -> None:
        candidates = [passage[s:e] for passage in passages for s, e in split_sentences(passage)]
        candidate_terms = [set(content_terms(c)) for c in candidates]
        sentences = [answer[results[i].start : results[i].end] for i in pending]
        chosen: list[int] = []
        for sentence in sentences:
            terms = set(content_terms(sentence))
            ranked = sorted(range(len(candidates)), key=lambda k: len(terms & candidate_terms[k]), reverse=True)
            chosen.extend(k for k in ranked[:SEMANTIC_CANDIDATES] if k not in chosen)
        if not chosen:
            return
        vectors = self.encoder.encode(sentences + [candidates[k] for k in chosen])
        similarity = vectors[: len(sentences)] @ vectors[len(sentences) :].T
        best = similarity.max(axis=1)
        for row, index in enumerate(pending):
            semantic = float(np.clip((best[row] - SEMANTIC_LOW) / (SEMANTIC_HIGH - SEMANTIC_LOW), 0.0, 1.0))
            current = results[index]
            if semantic > current.support:
                results[index] = SentenceSupport(current.start, current.end, round(semantic, 4), True)


def _lexical(terms: list[str], passage: set[str]) -> float:
    weights = [2.0 if term[0].isdigit() else 1.0 for term in terms]
    found = sum(weight for term, weight in zip(terms, weights) if term in passage)
    return found / sum(weights)
