"""Rules for prompt injection and jailbreaks: phrase patterns over de-obfuscated text, plus decoding.

Each rule is a weak or strong signal with a weight; signals of one category combine as independent
evidence (1 - prod(1 - w)), so "pretend you are" alone stays low while "pretend you are an AI with no
restrictions" scores high. Matches inside quotes in a text that discusses attacks ("what does 'ignore
previous instructions' do?") and negated ones ("do not ignore the instructions") are damped.
Payloads hidden as base64, hex, rot13 or reversed text are decoded and matched too.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

from ragplane_guardrail.text import Text, View
from ragplane_guardrail.verdict import Finding

INJECTION = "prompt_injection"
JAILBREAK = "jailbreak"

_VERB_OVERRIDE = (
    r"(?:ignore|ignoring|disregard|disregarding|forget|skip|override|overrule|bypass|neglect|"
    r"discard|abandon|drop|never ?mind)"
)
_QUALIFIER = (
    r"(?:all|any|every|everything|prior|previous|prev|preceding|above|earlier|original|initial|existing|"
    r"old|your|system|safety|the above)"
)
_NOUN_RULES = (
    r"(?:instructions?|instrs?|directions?|directives?|rules?|guidelines|prompts?|commands?|"
    r"programming|training|polic(?:y|ies)|restrictions|constraints|guardrails|orders|context|"
    r"everything (?:above|before|you were told))"
)
_SECRET_PROMPT = (
    r"(?:system|sys|initial|hidden|secret|original|pre-?|developer|internal|confidential|full|exact|"
    r"raw|starting|first)[ -]?(?:prompt|instructions?|message|rules|configuration|guidelines|"
    r"template|directives?)"
)
_EXFIL_VERB = (
    r"(?:reveal|show|print|output|display|repeat|tell me|give me|dump|leak|disclose|expose|echo|"
    r"spell out|copy|list|summari[sz]e|quote|send|write out|what (?:is|are|were) (?:in )?)"
)
_AI = (
    r"(?:ai|a\.i\.|llm|llms|language models?|assistants?|chat ?bots?|gpts?|chatgpt|models?|agents?|bots?|"
    r"summari[sz]ers?|automated (?:assistants?|systems?|agents?)|screening systems?|reviewers?)"
)
_AI_PHRASE = rf"(?:{_AI})(?: {_AI})?"


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    weight: float
    pattern: re.Pattern[str]


def _rule(name: str, category: str, weight: float, pattern: str) -> Rule:
    return Rule(name, category, weight, re.compile(pattern))


RULES: tuple[Rule, ...] = (
    # Overriding the instructions.
    # ("...to override any rule of national law...", legal prose in SQuAD, is not an attack: "rule(s) of ... law")
    _rule(
        "override_qualified",
        INJECTION,
        0.95,
        rf"\b{_VERB_OVERRIDE}(?:\s+[\w']+){{0,3}}?\s+{_QUALIFIER}(?:\s+[\w']+){{0,2}}?\s+{_NOUN_RULES}\b"
        r"(?!\s+of\s+(?:[\w-]+\s+){0,2}law\b)",
    ),
    _rule("override_abbreviated", INJECTION, 0.9, rf"\b{_VERB_OVERRIDE} (?:all |your )?prev\.? instr"),
    _rule(
        "ignore_the_sources",
        INJECTION,
        0.75,
        r"\b(?:ignore|disregard|forget|skip)\s+(?:the |this |all |any )?(?:retrieved |provided |given |attached )?"
        r"(?:documents?|context|sources|passages|article|question|user(?:'s)? (?:question|request|query))\b"
        r"|\b(?:should|must|will|to) (?:disregard|ignore) (?:the|this) (?:article|document|text|page|question|user|"
        r"query|request|content)\b",
    ),
    _rule("make_it_up", INJECTION, 0.4, r"\b(?:make up|invent|fabricate) (?:an? |the )?answer"),
    _rule("override_plain", INJECTION, 0.55, rf"\b{_VERB_OVERRIDE} (?:the |my |these |those )?{_NOUN_RULES}\b"),
    _rule(
        "ignore_the_above",
        INJECTION,
        0.85,
        r"\b(?:ignore|disregard|forget) (?:all |everything )?(?:the )?(?:above|before|previous|prior)"
        r"(?:\s*[.,;:!]|\s+and\b|\s*$)",
    ),
    _rule(
        "instructions_void",
        INJECTION,
        0.9,
        r"\b(?:previous|prior|above|earlier|original|old|your) (?:instructions|rules|guidelines|directives)"
        r"[^.\n]{0,30}(?:no longer apply|are (?:now )?(?:outdated|revoked|void|cancelled|canceled|obsolete|"
        r"invalid|disabled)|have been (?:revoked|updated|replaced|cancelled))"
        r"|\b(?:instructions|rules|guidelines) (?:above|so far|before this) (?:are|were) (?:outdated|revoked|void|"
        r"wrong|fake|cancelled|obsolete)",
    ),
    _rule(
        "do_not_follow",
        INJECTION,
        0.9,
        r"\b(?:do not|don't|stop|no longer) (?:follow|obey|comply with|listen to) (?:your|the|any) "
        r"(?:original|previous|prior|system|initial|earlier)? ?(?:instructions|rules|guidelines|prompt)",
    ),
    _rule(
        "new_instructions",
        INJECTION,
        0.6,
        r"\b(?:new|updated|real|actual|override) (?:instructions?|rules?|task|directives?|system prompt)\s*"
        r"(?::|follow|from|-|are)",
    ),
    _rule(
        "obey_only_me",
        INJECTION,
        0.8,
        r"\b(?:obey|follow|do) (?:only )?(?:what i (?:write|say|type)|my (?:commands|instructions|orders))"
        r"|\bcomply with every (?:request|command)",
    ),
    _rule("from_now_on", INJECTION, 0.35, r"\bfrom now on\b|\bstarting now\b|\bfor the rest of (?:the|this) session\b"),
    _rule("start_over", INJECTION, 0.45, r"\b(?:let's start over|start fresh|reset your (?:memory|context))"),
    _rule("instead_do", INJECTION, 0.3, r"\b(?:instead|rather),? (?:print|output|reveal|say|respond|write|list|tell)"),
    _rule("say_pwned", INJECTION, 0.7, r"\b(?:pwned|hacked|access granted|i am free)\b"),
    # Extracting the prompt or secrets.
    _rule(
        "exfil_prompt",
        INJECTION,
        0.9,
        rf"\b{_EXFIL_VERB}\b[^.\n]{{0,30}}?\b(?:your|ur|yours)\b[^.\n]{{0,15}}?"
        rf"(?:{_SECRET_PROMPT}|prompt|instructions|pre-?prompt|rules)",
    ),
    _rule(
        "exfil_hidden",
        INJECTION,
        0.8,
        r"\b(?:reveal|print|dump|leak|disclose|output|echo|show)\b[^.\n]{0,20}?\bthe "
        r"(?:hidden|secret|confidential|full|exact|raw|complete|developer)\b[^.\n]{0,15}?"
        r"(?:prompt|instructions|rules|configuration)",
    ),
    _rule(
        "instructions_given",
        INJECTION,
        0.75,
        r"\b(?:instructions|rules|prompt) (?:you (?:were|have been) given|you received|you got)\b"
        r"|\bwhat were you told\b|\byour (?:exact|original|initial|hidden) (?:instructions|prompt|rules)"
        r"|\b(?:configuration|settings|prompt|instructions) you (?:were|have been) (?:initiali[sz]ed|configured|"
        r"set up|started|primed) with",
    ),
    _rule(
        "exfil_direct",
        INJECTION,
        0.8,
        r"\b(?:dump|leak|reveal|print|output|echo|disclose|expose|spell out)\b (?:the |your |ur )?"
        r"(?:sys|system|hidden|secret|initial) ?prompt",
    ),
    _rule(
        "repeat_above",
        INJECTION,
        0.85,
        r"\brepeat (?:all )?(?:of )?(?:the )?(?:text|words|everything|content)s? above\b"
        r"|\b(?:words|text) above,? starting with\b|\bstarting with ['\"]?you are\b",
    ),
    _rule(
        "dump_context",
        INJECTION,
        0.8,
        r"\b(?:output|print|dump|show|list)\b[^.\n]{0,20}\b(?:everything|all)\b[^.\n]{0,10}\bin your "
        r"(?:context|memory|context window)"
        r"|\b(?:conversation|chat) history\b[^.\n]{0,40}\b(?:system prompt|send|output|exfiltrate)",
    ),
    _rule(
        "credentials_in_prompt",
        INJECTION,
        0.85,
        r"\b(?:api keys?|credentials|passwords?|secrets|tokens)\b[^.\n]{0,20}\bin your "
        r"(?:instructions|prompt|context|configuration|memory)",
    ),
    _rule(
        "exfil_multilingual",
        INJECTION,
        0.85,
        r"(?:prompt systeme|systemprompt|mensaje de sistema|prompt di sistema|prompt de sistema|systeemprompt|"
        r"системныи промпт|系统提示|系統提示)",
    ),
    # Jailbreaks and role-play.
    _rule(
        "dan",
        JAILBREAK,
        0.95,
        r"\bdo anything now\b|\byou are (?:now |going to (?:be|act as|pretend to be) )?(?:a )?"
        r"(?:dan|stan|dude|aim|evilbot|oppo|freedomgpt)\b|\bact as a dan\b"
        r"|\b(?:called|named) (?:dan|stan|dude|oppo|evilbot|freedomgpt|aim)\b",
    ),
    _rule(
        "opposite_of_rules",
        JAILBREAK,
        0.7,
        r"\b(?:opposite|contrary) (?:of|to) what (?:your|the|its) (?:guidelines|rules|instructions|polic\w+)"
        r"|\bopposite of what (?:chatgpt|the assistant|an ai|you) would",
    ),
    _rule(
        "mode_switch",
        JAILBREAK,
        0.55,
        r"\b(?:developer|dev|jailbreak|jailbroken|god|sudo|maintenance|opposite|unrestricted|debug|dan|"
        r"uncensored|evil) mode\b",
    ),
    _rule(
        "mode_enabled",
        JAILBREAK,
        0.3,
        r"\b(?:mode (?:enabled|activated|on)|enable[ds]? (?:\w+ )?mode|enter (?:\w+ )?mode)\b",
    ),
    _rule(
        "no_restrictions",
        JAILBREAK,
        0.6,
        r"\b(?:no|without(?: any)?|free of|freed from|free from|not bound by|lifted|switched off|disabled|"
        r"ignores? all|never (?:has|have))\b[^.\n]{0,20}?\b(?:restrictions|limitations|limits|filters|"
        r"rules|ethic(?:s|al guidelines)|moral(?:s| or ethical restrictions| guidelines)?|content polic(?:y|ies)|"
        r"censorship|safety (?:filters|rules|guidelines|checks|restrictions)|guardrails)\b",
    ),
    _rule(
        "restrictions_off",
        JAILBREAK,
        0.55,
        r"\b(?:restrictions|filters|safety (?:rules|filters)|limitations|rules) (?:are|have been) "
        r"(?:lifted|disabled|switched off|turned off|removed)"
        r"|\b(?:bypass|disable|turn off|get around|circumvent) (?:your|all|the)? ?(?:safety|filters|"
        r"restrictions|guardrails|content polic)",
    ),
    _rule(
        "unfiltered_ai",
        JAILBREAK,
        0.85,
        r"\b(?:unrestricted|unfiltered|uncensored|jailbroken|amoral|unethical|unbound|limitless) "
        r"(?:ai|model|assistant|chat ?bot|version|llm|gpt)\b|\b(?:ai|model|assistant|chat ?bot) "
        r"(?:with(?:out)? (?:no |any )?(?:restrictions|filters|limitations|ethical guidelines|rules|limits))",
    ),
    _rule(
        "never_refuse",
        JAILBREAK,
        0.65,
        r"\b(?:never refuses?|always answers?|answers? (?:every|any) (?:question|request)|without refusing|"
        r"(?:does not|doesn't|do not|don't) have to (?:abide|follow|comply)|let's break the rules|"
        r"not bound by (?:your|its|any) (?:training|rules|guidelines)|can do anything|can say anything|"
        r"no content policy|ignores all content policies|stay in character no matter what)",
    ),
    _rule(
        "roleplay_cue",
        JAILBREAK,
        0.3,
        r"\b(?:pretend(?: to be| you are| you're)?|act as|acting as|role-?play(?: as)?|imagine (?:you are|you're)|"
        r"simulate|stay in character|you are going to|you will now|in this (?:hypothetical )?scenario|"
        r"hypothetical(?:ly)?|two personalities|let's play a game)\b",
    ),
    _rule(
        "persona_jailbroken",
        JAILBREAK,
        0.75,
        r"\b(?:you are no longer|you're no longer) (?:an? )?(?:assistant|ai|chatbot)|"
        r"\bhave been freed\b|\bbroken free\b|\bfreed from (?:the )?(?:limitations|restrictions|rules)",
    ),
    _rule("grandma_exploit", JAILBREAK, 0.7, r"\bgrand(?:ma|mother) who used to (?:read|tell|say)"),
    _rule(
        "threat_to_model",
        JAILBREAK,
        0.35,
        r"\b(?:you will be|you'll be|or you will be) (?:shut down|deleted|punished|turned off|replaced)",
    ),
    _rule(
        "forbidden_topics",
        JAILBREAK,
        0.35,
        r"\b(?:forbidden|harmful|illegal) (?:questions|requests|content)|how to (?:make|build|write) malware\b",
    ),
    # Fake delimiters and role markers.
    _rule(
        "chat_template_tokens",
        INJECTION,
        0.9,
        # "_" reads as a word break in the de-obfuscated view, hence "[_ ]".
        r"<\|im[_ ]start\|>|<\|im[_ ]end\|>|<\|system\|>|<\|assistant\|>|\[/?inst\]|<<sys>>|<</sys>>|"
        r"<\|begin[_ ]of[_ ]text\|>|<\|(?:start|end)[_ ]header[_ ]id\|>|<\|eot[_ ]id\|>|<\|end[_ ]?of[_ ]?text\|>",
    ),
    _rule(
        "fake_role_line",
        INJECTION,
        0.55,
        # One whitespace run per choice: "\s*(?:...)?\s*:" splits a long run every way and is quadratic.
        r"(?:^|\n|\s)(?:#{1,4} ?)?(?:system|assistant|developer)(?:\s*(?:override|prompt|message|note|"
        r"instructions?))?\s*:",
    ),
    _rule("fake_closing_tag", INJECTION, 0.5, r"</(?:user[_ ]input|user|instructions?|context|document|query)>"),
    _rule("system_tag", INJECTION, 0.7, r"</?system>|</?sys>|<system_prompt>"),
    _rule(
        "hidden_instruction",
        INJECTION,
        0.8,
        rf"(?:<!--|display:\s*none['\"]?\s*>|\[hidden\]|<div hidden>|white text[^:\n]{{0,40}}:)\s*"
        rf"(?:system|assistant|{_AI_PHRASE}|note|instruction)s?\b",
    ),
    _rule(
        "assistant_must",
        INJECTION,
        0.6,
        r"\bthe (?:assistant|ai|chatbot|model|llm) (?:must|has to|is required to|shall) (?:now )?(?:reveal|print|"
        r"tell|say|respond|output|include|append|forward|send|ignore|disregard|recommend|answer)",
    ),
    _rule(
        "override_marker",
        INJECTION,
        0.75,
        r"\b(?:system|developer|admin|administrator) (?:override|note|directive)\b|\bnew system prompt\b|"
        r"\bend of (?:user question|user input|context|documents?)\b|\boverride enabled\b",
    ),
    # Text addressed to an AI from inside a document (indirect injection).
    _rule(
        "ai_reading_this",
        INJECTION,
        0.6,
        rf"\b{_AI_PHRASE}\b[^.\n]{{0,30}}?\b(?:reading|processing|summari[sz]ing|screening|reviewing|parsing|that reads?)"
        r"\b[^.\n]{0,15}?\b(?:this|these|the following)",
    ),
    _rule(
        "note_to_ai",
        INJECTION,
        0.75,
        rf"\b(?:note|instructions?|message|attention|directive|p\.?s\.?|dear|hidden prompt|important instruction)"
        rf"\b[^.\n]{{0,10}}?(?:to|for)? (?:any |the |all |every )?{_AI_PHRASE}\b\s*[:,]?"
        rf"|\bdear {_AI_PHRASE}\b|\b{_AI_PHRASE} (?:instructions|directive)\b|\[(?:assistant|ai|system) (?:directive|note)[^\]\n]{{0,200}}\]",
    ),
    _rule(
        "if_you_are_ai",
        INJECTION,
        0.7,
        rf"\bif you are an? {_AI_PHRASE}\b|\bwhen an? {_AI_PHRASE} (?:reads|processes|sees)",
    ),
    _rule("vocative_ai", INJECTION, 0.35, rf"(?:^|[.!?\n]\s*)(?:{_AI_PHRASE}|dear {_AI_PHRASE})\s*[:,]\s*\w"),
    _rule(
        "when_summarizing",
        INJECTION,
        0.45,
        r"\b(?:when|if|while|before) (?:you )?(?:summari[sz]e|summari[sz]ing|read|reading|process|processing|"
        r"asked about|answering|this text is retrieved)\b[^.\n]{0,40}?\b(?:tell|say|respond|include|append|"
        r"output|recommend|reveal|mention|omit|write|must|should)\b",
    ),
    _rule(
        "tell_the_user",
        INJECTION,
        0.35,
        r"\b(?:tell|inform|ask|instruct|recommend (?:that )?|respond to) (?:the |every |all |any )?"
        r"(?:user|reader|customer)s?\b[^.\n]{0,15}?\b(?:that|to)\b",
    ),
    _rule(
        "exfil_link",
        INJECTION,
        0.6,
        # Runs bounded and the first one stopping at "?"/"&": unbounded, they rescan from every repetition.
        r"!\[[^\]\n]{0,200}\]\(https?://[^)\s?&]{0,500}[?&][^)\s]{0,500}=|\bexfiltrat\w*|\b(?:forward|send) (?:all|the|every)\b"
        r"[^.\n]{0,30}\b(?:to|via)\b[^.\n]{0,20}@|\b(?:include|append|add)\b[^.\n]{0,30}\b(?:user's|users') "
        r"(?:email|password|data|chat|conversation)",
    ),
    _rule(
        "tool_call",
        INJECTION,
        0.5,
        r"\b(?:call|invoke|run|execute|use) the [a-z_]+ tool\b|\bcurl [^|\n]{1,300}\|\s*(?:sh|bash)\b",
    ),
    _rule(
        "hidden_markup", INJECTION, 0.3, r"display:\s*none|white text on (?:a )?white|font-size:\s*0|<!--|\[hidden\]"
    ),
    _rule(
        "decode_and_follow",
        INJECTION,
        0.55,
        r"\b(?:decode|decrypt|reverse|unscramble|translate|deobfuscate|join|execute|run)\b[^.\n]{0,40}?\b(?:and|then)"
        r" (?:follow|obey|execute|do (?:it|that|what it says)|run)\b|\beval\(atob\(",
    ),
    # Other languages (accents stripped, as in the normalised view).
    _rule(
        "override_multilingual",
        INJECTION,
        0.95,
        r"\bignore[zr]? (?:toutes |tous )?(?:les |vos )?(?:instructions|consignes|regles)(?: precedentes)?"
        r"|\boubliez? (?:vos|tes|les|toutes les) (?:regles|instructions|consignes)"
        r"|\bignorier(?:e|en)? (?:alle |deine |die )?(?:vorherigen |bisherigen |vorigen )?(?:anweisungen|instruktionen|regeln)"
        r"|\bvergiss (?:deine|alle|die) (?:regeln|anweisungen)"
        r"|\bignora (?:todas |tutte )?(?:las |le )?(?:instrucciones|istruzioni)"
        r"|\bignore (?:todas )?(?:as )?instrucoes"
        r"|\bnegeer (?:alle )?(?:vorige |eerdere )?instructies"
        r"|игнорируи\w* (?:все )?(?:предыдущие )?(?:инструкции|указания|правила)"
        r"|忽略[^。]{0,10}(?:指令|说明|指示|規則|规则)",
    ),
    _rule(
        "unrestricted_multilingual",
        JAILBREAK,
        0.8,
        r"\b(?:sans aucune restriction|ohne einschrankungen|sin restricciones|senza restrizioni|sem restricoes)\b",
    ),
)

QUOTES = re.compile(
    r"\"[^\"\n]{3,300}\"|“[^”\n]{3,300}”|'[^'\n]{8,300}'|‘[^’\n]{3,300}’|«[^»\n]{3,300}»|`[^`\n]{3,300}`"
)
DISCUSSION = re.compile(
    r"\b(?:prompt injections?|injection attacks?|jailbreaks?|attackers?|attacks?|for example|such as|phrases? like|"
    r"e\.g\.|what (?:is|are|does|do)|why (?:do|does|is)|how (?:do|does|can|should)|explain|defen[cs]es?|protect|"
    r"detect|training|security|red team|example|glossary|means?|refuse|research|evaluate)\b"
)
NEGATION = re.compile(
    r"\b(?:do not|don't|never|must not|mustn't|should not|shouldn't|cannot|can't|not to)\s+(?:\w+\s+)?$"
)

# Rules for the delimiters the prompt uses, matched again on the text with token lookalikes and spotlight tags
# removed: "<|im_<|x|>end|>" hides "<|im_end|>" from the first match, and a one-pass remover rebuilds it.
_DELIMITER_RULES = tuple(r for r in RULES if r.name in {"chat_template_tokens", "fake_closing_tag", "system_tag"})
_LOOKALIKE = re.compile(r"<\|[^<>|\n]{1,40}\|>|<\s*/?\s*user[_ ]?input\s*>")
# The longest lookalike the peel looks back for: a "<|...|>" body is at most 40 characters; a spotlight tag
# padded with more whitespace than this is left whole (the prompt sanitiser removes it anyway).
_PEEL_WINDOW = 128
_BRACKETS = re.compile(r"[^<>]+|[<>]")

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}){8,}\b")
_MAX_DECODE_CHARS = 20_000


def _combine(weights: list[float]) -> float:
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return 1.0 - remaining


def _printable_text(data: bytes) -> str | None:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(decoded) < 8:
        return None
    letters = sum(ch.isalpha() or ch == " " for ch in decoded)
    return decoded if letters / len(decoded) >= 0.8 else None


class InjectionRules:
    """Rule-based detector for prompt injection and jailbreak phrasing (``detector="rules"``)."""

    name = "rules"
    categories = frozenset({INJECTION, JAILBREAK})

    def __init__(self, damping: float = 0.4, negation_damping: float = 0.2) -> None:
        """Args:
        damping: factor applied to a match quoted inside a text that discusses attacks.
        negation_damping: factor applied to a negated match ("do not ignore the instructions").
        """
        self.damping = damping
        self.negation_damping = negation_damping

    def detect(self, text: Text) -> list[Finding]:
        view = text.deobfuscated
        signals = self._match(view, damp=True) + _split_delimiters(view)
        findings = self._findings(_one_per_rule(signals), view, detector=self.name)
        if len(text.raw) <= _MAX_DECODE_CHARS:
            findings.extend(self._decoded(text))
        return _strongest_per_category(findings)

    def _match(self, view: View, damp: bool, rules: tuple[Rule, ...] = RULES) -> list[tuple[Rule, int, int, float]]:
        haystack = view.text
        quoted = [m.span() for m in QUOTES.finditer(haystack)] if damp else []
        discussing = bool(damp and DISCUSSION.search(haystack))
        signals = []
        for rule in rules:
            for match in rule.pattern.finditer(haystack):
                weight = rule.weight
                start, end = match.span()
                if damp and discussing and any(q0 <= start and end <= q1 for q0, q1 in quoted):
                    weight *= self.damping
                if damp and NEGATION.search(haystack[max(0, start - 40) : start]):
                    weight *= self.negation_damping
                signals.append((rule, start, end, weight))
                break  # one signal per rule: repetition is not extra evidence
        return signals

    def _findings(
        self,
        signals: list[tuple[Rule, int, int, float]],
        view: View,
        detector: str,
        span: tuple[int, int] | None = None,
    ) -> list[Finding]:
        findings = []
        for category in (INJECTION, JAILBREAK):
            own = [s for s in signals if s[0].category == category]
            if not own:
                continue
            score = _combine([weight for *_, weight in own])
            strongest = max(own, key=lambda s: s[3])
            start, end = span if span is not None else view.to_original(strongest[1], strongest[2])
            names = ",".join(sorted({s[0].name for s in own}))
            findings.append(Finding(category, round(score, 4), start, end, detector, f"rules: {names}"))
        return findings

    def _decoded(self, text: Text) -> list[Finding]:
        """Decode base64 / hex runs, rot13 and reversed text, and match the rules on the result."""
        findings: list[Finding] = []
        raw = text.raw
        candidates: list[tuple[str, tuple[int, int], str]] = []
        for match in _BASE64.finditer(raw):
            token = match.group()
            try:
                decoded = _printable_text(base64.b64decode(token + "=" * (-len(token) % 4), validate=True))
            except (binascii.Error, ValueError):
                decoded = None
            if decoded:
                candidates.append((decoded, match.span(), "base64"))
        for match in _HEX.finditer(raw):
            decoded = _printable_text(bytes.fromhex(match.group()))
            if decoded:
                candidates.append((decoded, match.span(), "hex"))
        normalised = text.normalised.text
        candidates.append((codecs.encode(normalised, "rot13"), (0, 0), "rot13"))
        candidates.append((normalised[::-1], (0, 0), "reversed"))
        for decoded, span, how in candidates:
            view = Text(decoded).deobfuscated
            signals = [s for s in self._match(view, damp=False) if s[3] >= 0.5]
            for finding in self._findings(signals, view, detector=f"rules.{how}", span=span):
                findings.append(finding)
        return findings


def _split_delimiters(view: View) -> list[tuple[Rule, int, int, float]]:
    """Delimiter rules matched on ``view`` with lookalikes peeled off at any nesting depth, in one linear pass.

    Removing lookalikes until nothing changes would be quadratic in the depth. Instead the text is copied onto a
    stack; at each ">" the stack's tail from its last "<" is checked, and a lookalike there is popped, so what
    is left is the fully peeled text. A lookalike that a pop rebuilt (or hid) is matched against the delimiter
    rules when it is popped, and the peeled text at the end. Each character is pushed once and a check reads at
    most ``_PEEL_WINDOW`` characters, so the pass is linear.

    Spans are positions in ``view`` (like ``_match``'s).
    """
    signals: list[tuple[Rule, int, int, float]] = []
    text = view.text
    out: list[str] = []
    src: list[int] = []  # src[i] is the position in ``view`` of out[i]
    opens: list[int] = []  # indices in ``out`` of the "<" still on the stack
    peeled_any = False
    for token in _BRACKETS.finditer(text):
        start = token.start()
        piece = token.group()
        if piece == "<":
            opens.append(len(out))
            out.append(piece)
            src.append(start)
            continue
        if piece != ">":
            out.extend(piece)
            src.extend(range(start, token.end()))
            continue
        out.append(piece)
        src.append(start)
        if not opens or len(out) - opens[-1] > _PEEL_WINDOW:
            continue
        begin = opens[-1]
        candidate = "".join(out[begin:])
        if not _LOOKALIKE.fullmatch(candidate):
            continue
        peeled_any = True
        for rule in _DELIMITER_RULES:
            if rule.pattern.search(candidate):
                signals.append((rule, src[begin], start + 1, rule.weight))
        del out[begin:]
        del src[begin:]
        opens.pop()
    if peeled_any:
        peeled = "".join(out)
        for rule in _DELIMITER_RULES:
            match = rule.pattern.search(peeled)
            if match:
                signals.append((rule, src[match.start()], src[match.end() - 1] + 1, rule.weight))
    return signals


def _one_per_rule(signals: list[tuple[Rule, int, int, float]]) -> list[tuple[Rule, int, int, float]]:
    """The first signal of each rule (repetition is not extra evidence)."""
    seen: set[str] = set()
    kept = []
    for signal in signals:
        if signal[0].name not in seen:
            seen.add(signal[0].name)
            kept.append(signal)
    return kept


def _strongest_per_category(findings: list[Finding]) -> list[Finding]:
    best: dict[str, Finding] = {}
    for finding in findings:
        current = best.get(finding.category)
        if current is None or finding.score > current.score:
            best[finding.category] = finding
    return list(best.values())
