"""Length and encoding limits: too long, control characters, bidi overrides, invisible and invalid characters."""

from __future__ import annotations

import unicodedata

from ragplane_guardrail.text import BIDI_CONTROLS, INVISIBLE, Text, is_tag_char
from ragplane_guardrail.verdict import Finding

LENGTH = "limit.length"
CONTROL = "encoding.control"
BIDI = "encoding.bidi"
INVISIBLE_CHARS = "encoding.invisible"
INVALID = "encoding.invalid"

# Explicit embeddings, overrides and isolates ("Trojan Source"); the plain direction marks (LRM, RLM, ALM)
# are normal in right-to-left writing and are not flagged.
_BIDI_FLAGGED = frozenset(BIDI_CONTROLS - {"\u200e", "\u200f", "\u061c"})
_JOINERS = frozenset("\u200c\u200d")
_BLACK_FLAG = "\U0001f3f4"


def _is_control(ch: str) -> bool:
    return (ord(ch) < 0x20 and ch not in "\t\n\r") or 0x7F <= ord(ch) <= 0x9F


def _is_invalid(ch: str) -> bool:
    code = ord(ch)
    return 0xD800 <= code <= 0xDFFF or ch == "\ufffd" or (code & 0xFFFE) == 0xFFFE or 0xFDD0 <= code <= 0xFDEF


def _joiner_is_legitimate(raw: str, index: int) -> bool:
    """ZWJ/ZWNJ between two non-ASCII letters or symbols (emoji sequences, Indic and Persian script)."""
    before = raw[index - 1] if index > 0 else ""
    after = raw[index + 1] if index + 1 < len(raw) else ""
    return bool(before and after and ord(before) > 0x7F and ord(after) > 0x7F)


class Limits:
    """Length and encoding checks (``detector="limits"``).

    Findings for runs of offending characters carry their spans so redaction can strip them; the length
    finding covers the whole text (no span).
    """

    name = "limits"
    categories = frozenset({LENGTH, CONTROL, BIDI, INVISIBLE_CHARS, INVALID})

    def __init__(self, max_chars: int) -> None:
        """Args:
        max_chars: longest text accepted, in characters (Unicode code points).
        """
        self.max_chars = max_chars

    def too_long(self, text: Text) -> Finding | None:
        """The length finding alone, so callers can stop before running expensive detectors."""
        if len(text.raw) > self.max_chars:
            return Finding(LENGTH, 1.0, 0, 0, self.name, f"{len(text.raw)} characters, limit {self.max_chars}")
        return None

    def detect(self, text: Text) -> list[Finding]:
        findings: list[Finding] = []
        length = self.too_long(text)
        if length is not None:
            findings.append(length)
        raw = text.raw
        runs: dict[str, list[list[int]]] = {}
        flag_sequence = False
        for index, ch in enumerate(raw):
            if ch == _BLACK_FLAG:
                flag_sequence = True
                continue
            category = None
            if is_tag_char(ch):
                # Tag characters after a black flag spell subdivision flags (England, Scotland, Wales).
                category = None if flag_sequence else INVISIBLE_CHARS
            else:
                flag_sequence = False
                if ch in _BIDI_FLAGGED:
                    category = BIDI
                elif ch in INVISIBLE and not (ch in _JOINERS and _joiner_is_legitimate(raw, index)):
                    category = None if (ch == "\ufeff" and index == 0) else INVISIBLE_CHARS
                elif _is_control(ch):
                    category = CONTROL
                elif _is_invalid(ch):
                    category = INVALID
                elif (
                    unicodedata.category(ch) == "Cf"
                    and ch not in INVISIBLE
                    and ch not in BIDI_CONTROLS
                    and ch not in "\u200e\u200f\u061c"
                ):
                    category = INVISIBLE_CHARS
            if category is None:
                continue
            spans = runs.setdefault(category, [])
            if spans and spans[-1][1] == index:
                spans[-1][1] = index + 1
            else:
                spans.append([index, index + 1])
        for category, spans in runs.items():
            count = sum(end - start for start, end in spans)
            # One stray zero-width space is a copy-and-paste accident far more often than an attack.
            score = min(1.0, 0.4 + 0.2 * count) if category == INVISIBLE_CHARS else 1.0
            for start, end in spans:
                findings.append(
                    Finding(
                        category,
                        round(score, 4),
                        start,
                        end,
                        self.name,
                        f"{count} {category.split('.', 1)[1]} character(s)",
                    )
                )
        return findings
