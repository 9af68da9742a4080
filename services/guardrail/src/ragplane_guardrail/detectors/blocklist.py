"""Per-tenant blocklists: terms matched as whole words (case- and accent-insensitive) and regexes.

Patterns come from policy authors and run on every checked text, so they are compiled with RE2, whose matching
is linear in the text: a pattern such as ``(a+)+$`` cannot make a check backtrack for hours with the GIL held.
What RE2 cannot run in linear time (backreferences, lookaround) is refused when the policy loads.
"""

from __future__ import annotations

import re

import re2

from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import Finding

BLOCKLIST = "blocklist"
MAX_PATTERN_CHARS = 2000
MAX_PATTERNS = 200
# Memory RE2 may use for one compiled pattern (its program and DFA cache); a bigger program fails to compile.
_PATTERN_MEMORY = 8 << 20


class PatternError(ValueError):
    """A blocklist pattern that is invalid or that the linear engine cannot run; the message says which."""


def compile_pattern(pattern: str) -> re2._Regexp:
    """``pattern`` compiled for linear-time, case-insensitive matching.

    Raises:
        PatternError: the pattern is too long, invalid, too large, or needs backtracking (backreferences,
            lookaround), with the reason.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"is {len(pattern)} characters, longer than {MAX_PATTERN_CHARS}")
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = _PATTERN_MEMORY
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise PatternError(_explain(pattern, exc)) from None


def _explain(pattern: str, exc: Exception) -> str:
    detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    if re.search(r"invalid escape sequence: \\[1-9]|invalid named capture group: \(\?P=", detail):
        return "backreferences are not supported: patterns run on a linear-time engine (RE2)"
    if re.search(r"invalid perl operator: \(\?<?[=!]", detail):
        return "lookaround is not supported: patterns run on a linear-time engine (RE2)"
    if "too large" in detail or "invalid repetition size" in detail or "bad repetition operator" in detail:
        return f"is too large for the linear-time engine ({detail})"
    return f"not a valid regular expression ({detail})"


class Blocklist:
    """Matches a policy's blocklist terms and patterns (``detector="blocklist"``).

    Terms are matched on the normalised view, so "Ｐｒｏｊｅｃｔ Ｘ" or "pro\u200bject x" still hit "project x".
    """

    name = "blocklist"
    categories = frozenset({BLOCKLIST})

    def __init__(self, terms: tuple[str, ...] = (), patterns: tuple[str, ...] = ()) -> None:
        """Args:
            terms: words or phrases; matched whole-word.
            patterns: regular expressions (RE2 syntax), matched case-insensitively on the original text.

        Raises:
            PatternError: a pattern is refused (policy validation reports it with its key first).
        """
        normalised = sorted(
            {Text(term).normalised.text.strip() for term in terms if term.strip()}, key=len, reverse=True
        )
        self._terms = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in normalised) + r")(?!\w)") if normalised else None
        )
        self._patterns = tuple(compile_pattern(p) for p in patterns)

    @property
    def empty(self) -> bool:
        return self._terms is None and not self._patterns

    def detect(self, text: Text) -> list[Finding]:
        findings = []
        if self._terms is not None:
            view = text.normalised
            for match in self._terms.finditer(view.text):
                start, end = view.to_original(*match.span())
                findings.append(Finding(BLOCKLIST, 1.0, start, end, self.name, "blocklisted term"))
        for pattern in self._patterns:
            for match in pattern.finditer(text.raw):
                if match.end() > match.start():
                    findings.append(
                        Finding(BLOCKLIST, 1.0, match.start(), match.end(), self.name, "blocklisted pattern")
                    )
        return findings
