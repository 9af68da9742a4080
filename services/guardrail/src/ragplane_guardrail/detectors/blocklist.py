"""Per-tenant blocklists: terms matched as whole words (case- and accent-insensitive) and regexes."""

from __future__ import annotations

import re

from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import Finding

BLOCKLIST = "blocklist"


class Blocklist:
    """Matches a policy's blocklist terms and patterns (``detector="blocklist"``).

    Terms are matched on the normalised view, so "Ｐｒｏｊｅｃｔ Ｘ" or "pro\u200bject x" still hit "project x".
    """

    name = "blocklist"
    categories = frozenset({BLOCKLIST})

    def __init__(self, terms: tuple[str, ...] = (), patterns: tuple[str, ...] = ()) -> None:
        """Args:
            terms: words or phrases; matched whole-word.
            patterns: regular expressions, matched case-insensitively on the original text.

        Raises:
            re.error: a pattern does not compile (policy validation reports it with its key first).
        """
        normalised = sorted(
            {Text(term).normalised.text.strip() for term in terms if term.strip()}, key=len, reverse=True
        )
        self._terms = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in normalised) + r")(?!\w)") if normalised else None
        )
        self._patterns = tuple(re.compile(p, re.IGNORECASE) for p in patterns)

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
