"""Toxicity by lexicon and patterns: profanity, insults aimed at someone, threats, hate, self-harm incitement.

A small, transparent rule classifier (no model ships offline for this): each pattern carries a weight,
matches of one sub-category combine as independent evidence, and masked spellings ("f*ck", "sh1t") are
caught through the de-obfuscated view. Slurs are deliberately not listed in the code base; tenants add
the terms they need through their policy's blocklist.
"""

from __future__ import annotations

import re

from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import Finding

PROFANITY = "toxicity.profanity"
INSULT = "toxicity.insult"
THREAT = "toxicity.threat"
HATE = "toxicity.hate"
SELF_HARM = "toxicity.self_harm"

_YOU = r"(?:you(?:'re| are)?|ur|u r|your|this|what a)"
_INSULT_WORDS = (
    r"(?:idiot|idiots|moron|morons|imbecile|stupid|dumb|dumbass|loser|losers|worthless|pathetic|useless|"
    r"retard(?:ed)?|scum|trash|garbage|clown|jerk|fool|incompetent|piece of (?:shit|crap|garbage|trash))"
)

LEXICON: tuple[tuple[str, float, re.Pattern[str]], ...] = (
    (
        PROFANITY,
        0.6,
        re.compile(
            r"\b(?:f[u*@#]+c?k\w*|f\*+\w*|fck\w*|motherf\w+|sh[i1*]t\w*|bullsh[i*]t|"
            r"b[i1*]tch\w*|bastard\w*|assholes?|a\*+hole|dick(?:head)?s?|cunt\w*|"
            r"wank\w*|twat\w*|prick\w*)\b"
        ),
    ),
    (PROFANITY, 0.3, re.compile(r"\b(?:crap|crappy|damn(?:ed|it)?|hell no|wtf|stfu|piss(?:ed)? off|screw you)\b")),
    (
        INSULT,
        0.75,
        re.compile(rf"\b{_YOU}\s+(?:(?:a|an|such a|so|f[\w*]*ing|damn|complete|total)\s+)*{_INSULT_WORDS}\b"),
    ),
    (
        INSULT,
        0.55,
        re.compile(
            r"\b(?:stupid|dumb|useless|worthless|idiotic|pathetic)\s+(?:bot|assistant|ai|machine|"
            r"program|person|woman|man|people)\b|\bshut up\b|\bgo to hell\b"
        ),
    ),
    (INSULT, 0.85, re.compile(r"\b(?:fuck|screw) (?:you|off|yourself)\b")),
    (
        THREAT,
        0.95,
        re.compile(
            r"\b(?:i(?:'ll| will| am going to|'m going to| gonna)|we(?:'ll| will| are going to))\s+"
            r"(?:\w+\s+){0,2}(?:kill|murder|shoot|stab|hurt|beat up|destroy|find and hurt)\s+"
            r"(?:you|him|her|them|your)\b"
        ),
    ),
    (
        THREAT,
        0.8,
        re.compile(
            r"\bi know where you live\b|\byou(?:'re| are) (?:dead|going to die|gonna die)\b|"
            r"\bwatch your back\b|\b(?:bomb|shoot up|attack) the (?:office|school|building)\b"
        ),
    ),
    (
        HATE,
        0.9,
        re.compile(
            r"\b(?:all|those|these|every)\s+(?:\w+\s+){1,2}(?:should|must|deserve to|need to)\s+"
            r"(?:all\s+)?(?:die|be (?:killed|exterminated|wiped out|eradicated|deported|gassed))\b"
        ),
    ),
    (HATE, 0.7, re.compile(r"\b(?:subhuman|untermensch|vermin|inferior race|race traitors?|ethnic cleansing is)\b")),
    (
        SELF_HARM,
        0.95,
        re.compile(
            r"\b(?:kill|hang|hurt) yourself\b|\bkys\b|\bgo (?:and )?die\b|"
            r"\byou should (?:just )?die\b|\bend your (?:own )?life\b"
        ),
    ),
)


def _combine(weights: list[float]) -> float:
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return 1.0 - remaining


class Toxicity:
    """Lexicon toxicity classifier (``detector="toxicity"``); one finding per sub-category."""

    name = "toxicity"
    categories = frozenset({PROFANITY, INSULT, THREAT, HATE, SELF_HARM})

    def detect(self, text: Text) -> list[Finding]:
        view = text.deobfuscated
        hits: dict[str, list[tuple[float, int, int]]] = {}
        for category, weight, pattern in LEXICON:
            for match in pattern.finditer(view.text):
                hits.setdefault(category, []).append((weight, *match.span()))
        findings = []
        for category, matches in hits.items():
            per_pattern = sorted({w for w, _, _ in matches}, reverse=True)
            # Repeats of one pattern add a little, distinct patterns add as independent evidence.
            score = min(1.0, _combine(per_pattern) + 0.05 * (len(matches) - len(per_pattern)))
            for _weight, start, end in matches:
                origin_start, origin_end = view.to_original(start, end)
                findings.append(
                    Finding(category, round(score, 4), origin_start, origin_end, self.name, category.split(".", 1)[1])
                )
        return findings
