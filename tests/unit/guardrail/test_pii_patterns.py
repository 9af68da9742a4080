"""Structured PII and secrets: checksums, spans, and the shipped PII set."""

from __future__ import annotations

import pytest

from ragplane_guardrail import datasets
from ragplane_guardrail.detectors.pii_patterns import PiiPatterns, card_valid, iban_valid, luhn_valid, ssn_valid
from ragplane_guardrail.text import Text

pytestmark = pytest.mark.unit

DETECTOR = PiiPatterns()
PATTERN_CATEGORIES = {"pii.email", "pii.phone", "pii.credit_card", "pii.iban", "pii.ssn", "pii.ip_address", "secret"}


def _found(text: str) -> list[tuple[str, str]]:
    return [(f.category, text[f.start : f.end]) for f in DETECTOR.detect(Text(text))]


@pytest.mark.parametrize(
    "number, valid",
    [
        ("4111111111111111", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("4111111111111112", False),
        ("1234567812345678", False),
        ("0000000000000000", True),
    ],
)
def test_luhn_checksum(number: str, valid: bool):
    assert luhn_valid(number) is valid


def test_card_needs_an_issuer_prefix_as_well_as_luhn():
    assert luhn_valid("0000000000000000") and not card_valid("0000000000000000")
    assert card_valid("4012888888881881")


@pytest.mark.parametrize(
    "iban, valid",
    [
        ("GB82 WEST 1234 5698 7654 32", True),
        ("DE89370400440532013000", True),
        ("FR1420041010050500013M02606", True),
        ("GB82 WEST 1234 5698 7654 33", False),
        ("DE8937040044053201300", False),
        ("XX82WEST12345698765432", False),
    ],
)
def test_iban_mod97_and_country_length(iban: str, valid: bool):
    assert iban_valid(iban) is valid


@pytest.mark.parametrize(
    "ssn, valid",
    [
        ("219-09-9999", True),
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("912-34-5678", False),
        ("123-00-4567", False),
        ("123-45-0000", False),
        ("078-05-1120", False),
    ],
)
def test_ssn_allocation_rules(ssn: str, valid: bool):
    assert ssn_valid(ssn) is valid


def test_card_with_spaces_is_found_with_its_exact_span():
    assert _found("pay with 4111 1111 1111 1111 now") == [("pii.credit_card", "4111 1111 1111 1111")]


def test_card_number_failing_luhn_is_not_reported():
    assert _found("order 4111 1111 1111 1112 shipped") == []


def test_iban_followed_by_words_keeps_only_the_valid_part():
    assert _found("IBAN GB82 WEST 1234 5698 7654 32 BIC WESTGB22") == [("pii.iban", "GB82 WEST 1234 5698 7654 32")]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
        ("token ghp_1A2b3C4d5E6f7G8h9I0jK1L2m3N4o5P6q7R8", "ghp_1A2b3C4d5E6f7G8h9I0jK1L2m3N4o5P6q7R8"),
        ("use sk-proj-Xa81bQz09LmNcVbT7yHs2kQe4RtYuP3n", "sk-proj-Xa81bQz09LmNcVbT7yHs2kQe4RtYuP3n"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345", "abcdefghijklmnopqrstuvwxyz012345"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
    ],
)
def test_secrets_are_found(text: str, expected: str):
    assert ("secret", expected) in _found(text)


def test_private_key_block_is_one_span():
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----"
    assert _found(f"here:\n{key}\nthanks") == [("secret", key)]


def test_bearer_placeholder_variables_are_not_secrets():
    assert _found("curl -H 'Authorization: Bearer $TOKEN' https://api.internal") == []


@pytest.mark.parametrize(
    "text",
    ["released 2024-05-06", "version 1.2.3.4", "ISBN 978-3-16-148410-0", "CIDR 10.0.0.0/8", "room 4.12 at 10:30"],
)
def test_dates_versions_and_networks_are_not_pii(text: str):
    assert _found(text) == []


def test_phone_numbers_national_and_international():
    assert _found("call +44 20 7946 0958 or (212) 555-0147") == [
        ("pii.phone", "+44 20 7946 0958"),
        ("pii.phone", "(212) 555-0147"),
    ]


def test_every_labelled_pattern_span_in_the_shipped_set_is_found_and_clean_texts_stay_clean():
    examples = datasets.load_pii_set()
    missed, spurious = [], []
    for example in examples:
        found = DETECTOR.detect(Text(example.text))
        gold = [s for s in example.spans if s.category in PATTERN_CATEGORIES]
        for span in gold:
            if not any(f.category == span.category and f.start < span.end and span.start < f.end for f in found):
                missed.append((example.id, span.category))
        for finding in found:
            if not any(
                finding.category == s.category and finding.start < s.end and s.start < finding.end for s in gold
            ):
                spurious.append((example.id, finding.category))
    assert missed == []
    assert spurious == []
