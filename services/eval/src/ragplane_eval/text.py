"""Text helpers for the judges: sentences, claims, content tokens, abstentions."""

from __future__ import annotations

import re

from ragplane.runtime.citations import strip_markers

# Sentence ends: . ! ? followed by space and something that starts a sentence. Common abbreviations and
# initials ("U.S.", "Dr.", "J. S. Bach") are protected by requiring the previous token to be longer than
# one letter and not a listed abbreviation.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "mt",
        "no",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "inc",
        "ltd",
        "co",
        "corp",
        "fig",
        "approx",
        "ca",
        "c",
        "u.s",
        "u.k",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    }
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")

STOPWORDS = frozenset(
    """
a an the and or but if then than of to in on at by for with from into onto over under about as is are was were
be been being am do does did done have has had having it its it's this that these those there their they them he
him his she her hers we us our you your i me my mine what which who whom whose when where why how not no nor so
such too very can could may might must shall should will would also just only both each either neither any all
some most more less much many other another same own out up down off again further once here s t
""".split()
)

# Answers that decline instead of answering: no claims to check, and they do not address the question.
_ABSTENTION = re.compile(
    r"^\s*(i\s+(do\s*n[o']?t|cannot|can't|am\s+unable\s+to)\s+(know|answer|find|tell|say)|unanswerable|"
    r"(there\s+is\s+)?(no|not\s+enough)\s+(answer|information)|"
    r"the\s+(context|passages?|documents?|sources?)\s+(does|do)\s*(not|n't)\s+(say|mention|contain|provide|"
    r"include|specify|state))",
    re.IGNORECASE,
)


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences; short fragments are kept with their neighbour."""
    text = " ".join(text.split())
    if not text:
        return []
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()].strip()
        last_word = candidate.rsplit(" ", 1)[-1].rstrip(".!?\"')]").lower()
        if (len(last_word) <= 1 and last_word.isalpha()) or last_word in _ABBREVIATIONS:
            continue
        pieces.append(candidate)
        start = match.end()
    pieces.append(text[start:].strip())
    sentences: list[str] = []
    for piece in pieces:
        if sentences and len(piece.split()) < 3:
            sentences[-1] = f"{sentences[-1]} {piece}"
        elif piece:
            sentences.append(piece)
    return sentences


def tokens(text: str) -> list[str]:
    """Lowercase word tokens (letters and digits; inner dots and apostrophes kept: "3.5", "o'brien")."""
    return _TOKEN.findall(text.lower())


def _stem(token: str) -> str:
    """A crude plural/tense folding so that 'teams' matches 'team' and 'founded' matches 'found'."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(token) > len(suffix) + 2 and token.endswith(suffix):
            return token[: -len(suffix)]
    return token


def content_terms(text: str) -> set[str]:
    """Stemmed tokens without stopwords; all tokens when the text is only stopwords."""
    words = tokens(text)
    kept = [w for w in words if w not in STOPWORDS] or words
    return {_stem(w) for w in kept}


def is_abstention(answer: str) -> bool:
    """True when the answer declines ("I don't know", "The context does not say ...")."""
    return bool(_ABSTENTION.match(answer))


def is_fragment(answer: str, max_words: int = 8) -> bool:
    """True for a short extractive answer ("Denver Broncos") rather than a sentence that states a claim."""
    sentences = split_sentences(answer)
    return len(sentences) <= 1 and len(answer.split()) <= max_words


def claims(answer: str) -> list[str]:
    """The claims an answer makes: its sentences, without citation markers; none for an abstention."""
    text = strip_markers(answer)
    if not text or is_abstention(text):
        return []
    return [s for s in split_sentences(text) if tokens(s)]
