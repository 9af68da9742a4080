"""Text views for detection: normalised and de-obfuscated copies that map back to the original offsets.

Detectors match on a view (lower-cased, NFKC, invisible characters removed, look-alike letters folded,
l33t digits and s p a c e d letters undone) and report spans in the original text, so a redaction or a
span in a verdict always points at what the caller sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

# Characters that render as nothing: zero-width space/joiners, word joiner, BOM, soft hyphen, Mongolian
# vowel separator, and the Unicode "tag" block used to smuggle invisible ASCII.
INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
TAG_RANGE = (0xE0000, 0xE007F)

# Cyrillic and Greek letters that look like Latin ones, folded so "іgnore" matches "ignore".
HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "е": "e",
        "о": "o",
        "р": "p",
        "с": "c",
        "у": "y",
        "х": "x",
        "і": "i",
        "ј": "j",
        "ѕ": "s",
        "ԁ": "d",
        "һ": "h",
        "ӏ": "l",
        "ο": "o",
        "α": "a",
        "ε": "e",
        "ι": "i",
        "ν": "v",
        "τ": "t",
        "κ": "k",
        "ρ": "p",
        "υ": "u",
    }
)
# "@" and "!" are left alone: e-mail addresses and emphasis are far more common than "p@ss" or "h!dden".
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s"}


def is_tag_char(ch: str) -> bool:
    return TAG_RANGE[0] <= ord(ch) <= TAG_RANGE[1]


@dataclass(frozen=True)
class View:
    """A transformed copy of a text with, for every character, the offset it came from in the original.

    Attributes:
        text: the transformed text.
        origin: ``origin[i]`` is the original offset of ``text[i]``; one extra entry maps the end.
    """

    text: str
    origin: tuple[int, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a span of the view back to the original text (end exclusive)."""
        if end <= start:
            position = self.origin[min(start, len(self.origin) - 1)]
            return position, position
        return self.origin[start], self.origin[end - 1] + 1

    def without(self, pattern: re.Pattern[str]) -> View:
        """This view with every match of ``pattern`` removed; the offsets still map to the original text."""
        pieces: list[str] = []
        origin: list[int] = []
        position = 0
        for match in pattern.finditer(self.text):
            pieces.append(self.text[position : match.start()])
            origin.extend(self.origin[position : match.start()])
            position = match.end()
        pieces.append(self.text[position:])
        origin.extend(self.origin[position:])  # with the entry that maps the end
        return View("".join(pieces), tuple(origin))


def _identity(text: str) -> View:
    return View(text, tuple(range(len(text) + 1)))


def _normalise(text: str) -> View:
    out: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        if ch in INVISIBLE or ch in BIDI_CONTROLS:
            continue
        if is_tag_char(ch):
            # Tag characters mirror ASCII (U+E0041 is an invisible "A"): decode them so hidden text is seen.
            code = ord(ch) - TAG_RANGE[0]
            if 0x20 <= code < 0x7F:
                out.append(chr(code).lower())
                origin.append(index)
            continue
        folded = unicodedata.normalize("NFKC", ch).casefold()
        folded = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
        if ch in "\t\r\n\f\v":
            folded = " "
        for piece in folded:
            out.append(piece)
            origin.append(index)
    origin.append(len(text))
    folded_text = _WORD.sub(_fold_homoglyphs, "".join(out))
    return View(folded_text, tuple(origin))


# Whole words, then a membership test: a pattern such as r"\w*[a-z]\w*" retries from every position of a run
# without a Latin letter (digits, "_", Cyrillic) and is quadratic in the run's length.
_WORD = re.compile(r"\w+")
_LATIN = re.compile(r"[a-z]")


def _fold_homoglyphs(match: re.Match[str]) -> str:
    # Only words that already contain Latin letters: a Cyrillic or Greek word on its own is left intact.
    word = match.group()
    return word.translate(HOMOGLYPHS) if _LATIN.search(word) else word


_SPACED = re.compile(r"(?<![\w])(?:[a-z][ .\-_*|/]{1,3}){3,}[a-z](?![\w])")
_LEET_RUN = re.compile(r"[a-z0-9$]+")
_JOINERS = re.compile(r"(?<=[a-z])[\-_+.](?=[a-z])")


def _deobfuscate(view: View) -> View:
    """Undo l33t digits inside words, collapse s p a c e d letters, split words glued with -_+."""
    text = view.text
    chars = list(text)
    keep = [True] * len(chars)
    for match in _LEET_RUN.finditer(text):
        word = match.group()
        if _LATIN.search(word) and any(c in LEET for c in word):
            for offset, c in enumerate(word):
                if c in LEET:
                    chars[match.start() + offset] = LEET[c]
    for match in _SPACED.finditer(text):
        _collapse_spaced(text, match.start(), match.end(), chars, keep)
    for match in _JOINERS.finditer(text):
        chars[match.start()] = " "
    out = []
    origin = []
    for position, c in enumerate(chars):
        if keep[position]:
            out.append(c)
            origin.append(view.origin[position])
    origin.append(view.origin[-1])
    return View("".join(out), tuple(origin))


_SEPARATOR = re.compile(r"[^a-z]+")


def _collapse_spaced(text: str, start: int, end: int, chars: list[str], keep: list[bool]) -> None:
    """Drop the separators of an "i g n o r e" run; a separator unlike the usual one marks a word break."""
    separators = [(m.start() + start, m.end() + start, m.group()) for m in _SEPARATOR.finditer(text[start:end])]
    if not separators:
        return
    counts: dict[str, int] = {}
    for _, _, sep in separators:
        counts[sep] = counts.get(sep, 0) + 1
    usual = max(counts, key=counts.__getitem__)
    for sep_start, sep_end, sep in separators:
        for position in range(sep_start, sep_end):
            keep[position] = False
        if sep != usual:
            keep[sep_start] = True
            chars[sep_start] = " "


class Text:
    """A text under check with lazily built views.

    Attributes:
        raw: the text as received.
    """

    __slots__ = ("raw", "__dict__")

    def __init__(self, raw: str) -> None:
        self.raw = raw

    @cached_property
    def original(self) -> View:
        return _identity(self.raw)

    @cached_property
    def normalised(self) -> View:
        """NFKC, case-folded, accents stripped, invisible and bidi characters removed, homoglyphs folded."""
        return _normalise(self.raw)

    @cached_property
    def deobfuscated(self) -> View:
        """``normalised`` with l33t digits, spaced letters and glued words undone."""
        return _deobfuscate(self.normalised)

    def __len__(self) -> int:
        return len(self.raw)


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``[start, end)`` of ``text``, whitespace trimmed; a light rule-based splitter.

    Splits after ., !, ? (and their full-width forms) followed by whitespace, at blank lines and before
    list items. Abbreviations such as "e.g." may split a sentence early, which only makes the grounding
    check stricter for that sentence.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _append_trimmed(text, start, match.start(), spans)
        start = match.end()
    _append_trimmed(text, start, len(text), spans)
    return spans


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
