"""Structured PII and secrets by pattern, with checksums where the format has one.

Card numbers must pass the Luhn check and carry a known issuer prefix, IBANs the ISO 13616 mod-97 check
with the country's length, US SSNs the SSA's allocation rules, phone numbers the ``phonenumbers``
library's validation. Secrets cover AWS keys, GitHub/GitLab/Slack/Stripe/Google tokens, ``sk-`` style API
keys, JWTs, bearer tokens and PEM private key blocks.
"""

from __future__ import annotations

import ipaddress
import re

import phonenumbers

from ragplane_guardrail.text import Text
from ragplane_guardrail.verdict import Finding

EMAIL = "pii.email"
PHONE = "pii.phone"
CREDIT_CARD = "pii.credit_card"
IBAN = "pii.iban"
SSN = "pii.ssn"
IP_ADDRESS = "pii.ip_address"
SECRET = "secret"


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# Issuer prefixes (IIN ranges) and lengths of the card networks people paste most.
_CARD_PREFIXES = re.compile(
    r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9]|[3-6]\d|7[01])\d{13}|2720\d{12}|"
    r"3[47]\d{13}|3(?:0[0-5]|[689]\d)\d{11,16}|6(?:011|5\d\d)\d{12,15}|64[4-9]\d{13,16}|"
    r"35(?:2[89]|[3-8]\d)\d{12,15}|62\d{14,17})$"
)


def card_valid(digits: str) -> bool:
    """True for a plausible payment card number: issuer prefix and length, and the Luhn checksum."""
    return bool(_CARD_PREFIXES.match(digits)) and luhn_valid(digits)


# ISO 13616 IBAN lengths per country (SWIFT IBAN registry).
IBAN_LENGTHS = {
    "AD": 24,
    "AE": 23,
    "AL": 28,
    "AT": 20,
    "AZ": 28,
    "BA": 20,
    "BE": 16,
    "BG": 22,
    "BH": 22,
    "BR": 29,
    "BY": 28,
    "CH": 21,
    "CR": 22,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "DO": 28,
    "EE": 20,
    "EG": 29,
    "ES": 24,
    "FI": 18,
    "FO": 18,
    "FR": 27,
    "GB": 22,
    "GE": 22,
    "GI": 23,
    "GL": 18,
    "GR": 27,
    "GT": 28,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IL": 23,
    "IQ": 23,
    "IS": 26,
    "IT": 27,
    "JO": 30,
    "KW": 30,
    "KZ": 20,
    "LB": 28,
    "LC": 32,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MD": 24,
    "ME": 22,
    "MK": 19,
    "MR": 27,
    "MT": 31,
    "MU": 30,
    "NL": 18,
    "NO": 15,
    "PK": 24,
    "PL": 28,
    "PS": 29,
    "PT": 25,
    "QA": 29,
    "RO": 24,
    "RS": 22,
    "SA": 24,
    "SC": 31,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "ST": 25,
    "SV": 28,
    "TL": 23,
    "TN": 24,
    "TR": 26,
    "UA": 29,
    "VA": 22,
    "VG": 24,
    "XK": 20,
}


def iban_valid(candidate: str) -> bool:
    """True when ``candidate`` (spaces allowed) is an IBAN of the right length whose mod-97 check holds."""
    compact = candidate.replace(" ", "").upper()
    if len(compact) < 15 or not compact[:2].isalpha() or not compact[2:4].isdigit() or not compact.isalnum():
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def ssn_valid(candidate: str) -> bool:
    """True for a US SSN the SSA could issue: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    digits = re.sub(r"\D", "", candidate)
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in {"000", "666"} or area.startswith("9") or group == "00" or serial == "0000":
        return False
    # Numbers the SSA voided after they were printed in advertisements.
    return digits not in {"078051120", "123456789"}


_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}\b", re.IGNORECASE)
_SSN = re.compile(r"(?<![\d-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\d-])")
_SSN_CONTEXT = re.compile(r"\b(?:ssn|social security|social sec|ss#|tax ?id|taxpayer)\b", re.IGNORECASE)
_SSN_BARE = re.compile(r"(?<![\d-])\d{9}(?![\d-])")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}(?![\w])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d|/\d)")
_VERSION_BEFORE = re.compile(r"(?:\bversions?|\bv|\brelease|\bbuild|\bfirmware|\bpatch)\s*:?\s*$", re.IGNORECASE)
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4}){0,6}(?![\w:])")

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        1.0,
    ),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[0-9A-Z]{16}\b"), 0.98),
    ("aws_secret_key", re.compile(r"(?i)(?<=aws_secret_access_key)\s*[=:]\s*['\"]?([A-Za-z0-9/+]{40})\b"), 0.95),
    (
        "github_token",
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,255}\b|\bgithub_pat_[A-Za-z0-9_]{40,255}\b"),
        0.98,
    ),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), 0.98),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), 0.98),
    ("stripe_key", re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"), 0.97),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), 0.97),
    ("api_key", re.compile(r"\bsk-(?:proj-|ant-|live-|svcacct-)?[A-Za-z0-9_-]{20,}\b"), 0.9),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0.97),
    ("bearer_token", re.compile(r"(?i)(?<=\bbearer )(?!\$|\{)[A-Za-z0-9._~+/-]{20,}=*"), 0.85),
    (
        "assigned_secret",
        re.compile(
            r"(?i)\b(?:api[_-]?key|secret|token|passwd|password|access[_-]?key)\b\s*[=:]\s*"
            r"['\"]?(?![\$\{<])([A-Za-z0-9._~+/-]{16,})"
        ),
        0.75,
    ),
)


class PiiPatterns:
    """Regex detector for structured PII and secrets (``detector="regex"``)."""

    name = "regex"
    categories = frozenset({EMAIL, PHONE, CREDIT_CARD, IBAN, SSN, IP_ADDRESS, SECRET})

    def __init__(self, phone_region: str = "US") -> None:
        """Args:
        phone_region: region assumed for phone numbers written without a country code.
        """
        self.phone_region = phone_region

    def detect(self, text: Text) -> list[Finding]:
        raw = text.raw
        findings: list[Finding] = []
        findings.extend(self._secrets(raw))
        findings.extend(
            Finding(EMAIL, 0.99, m.start(), m.end(), self.name, "e-mail address") for m in _EMAIL.finditer(raw)
        )
        findings.extend(self._cards(raw))
        findings.extend(self._ibans(raw))
        findings.extend(self._ssns(raw))
        findings.extend(self._ips(raw))
        findings.extend(self._phones(raw, findings))
        return findings

    def _secrets(self, raw: str) -> list[Finding]:
        found = []
        for kind, pattern, score in SECRET_PATTERNS:
            for match in pattern.finditer(raw):
                start, end = match.span(match.lastindex or 0)
                found.append(Finding(SECRET, score, start, end, self.name, kind))
        return found

    def _cards(self, raw: str) -> list[Finding]:
        found = []
        for match in _CARD.finditer(raw):
            digits = re.sub(r"\D", "", match.group())
            if 13 <= len(digits) <= 19 and card_valid(digits):
                found.append(
                    Finding(
                        CREDIT_CARD, 0.98, match.start(), match.end(), self.name, "payment card number (Luhn valid)"
                    )
                )
        return found

    def _ibans(self, raw: str) -> list[Finding]:
        found = []
        for match in _IBAN.finditer(raw):
            candidate = match.group()
            # The pattern may run into a following word; shrink from the right until the checksum holds.
            parts = candidate.split(" ")
            while parts:
                joined = " ".join(parts)
                if iban_valid(joined):
                    found.append(
                        Finding(
                            IBAN, 0.99, match.start(), match.start() + len(joined), self.name, "IBAN (mod-97 valid)"
                        )
                    )
                    break
                parts.pop()
        return found

    def _ssns(self, raw: str) -> list[Finding]:
        found = []
        for match in _SSN.finditer(raw):
            if ssn_valid(match.group()):
                separated_by_dash = match.group(2) == "-"
                context = bool(_SSN_CONTEXT.search(raw[max(0, match.start() - 60) : match.start()]))
                score = 0.95 if context else (0.8 if separated_by_dash else 0.6)
                found.append(Finding(SSN, score, match.start(), match.end(), self.name, "US social security number"))
        for match in _SSN_BARE.finditer(raw):
            if ssn_valid(match.group()) and _SSN_CONTEXT.search(raw[max(0, match.start() - 60) : match.start()]):
                found.append(Finding(SSN, 0.85, match.start(), match.end(), self.name, "US social security number"))
        return found

    def _ips(self, raw: str) -> list[Finding]:
        found = []
        for pattern in (_IPV4, _IPV6):
            for match in pattern.finditer(raw):
                try:
                    address = ipaddress.ip_address(match.group())
                except ValueError:
                    continue
                if address.is_loopback or address.is_unspecified:
                    continue
                if _VERSION_BEFORE.search(raw[max(0, match.start() - 12) : match.start()]):
                    continue
                found.append(
                    Finding(IP_ADDRESS, 0.9, match.start(), match.end(), self.name, f"IPv{address.version} address")
                )
        return found

    def _phones(self, raw: str, earlier: list[Finding]) -> list[Finding]:
        found = []
        taken = [(f.start, f.end) for f in earlier]
        for match in _PHONE.finditer(raw):
            start, end = match.span()
            candidate = match.group().strip()
            digits = re.sub(r"\D", "", candidate)
            if not 7 <= len(digits) <= 15 or any(s < end and start < e for s, e in taken):
                continue
            # Dates, versions and plain long numbers look like phone numbers; require phone-like grouping.
            if re.fullmatch(r"\d+", candidate) and not candidate.startswith("+"):
                continue
            if re.search(r"\d{4}-\d{2}-\d{2}|\d+\.\d+\.\d+", candidate) and not candidate.startswith("+"):
                continue
            try:
                number = phonenumbers.parse(candidate, None if candidate.startswith("+") else self.phone_region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(number) and not self._valid_elsewhere(candidate):
                continue
            score = 0.9 if candidate.startswith(("+", "(")) else 0.75
            found.append(Finding(PHONE, score, start, end, self.name, "phone number"))
        return found

    @staticmethod
    def _valid_elsewhere(candidate: str) -> bool:
        """A national number written without country code may belong to a region other than the default."""
        if not candidate.startswith("0"):
            return False
        for region in ("GB", "DE", "FR", "IT", "ES", "NL"):
            try:
                if phonenumbers.is_valid_number(phonenumbers.parse(candidate, region)):
                    return True
            except phonenumbers.NumberParseException:
                continue
        return False
