"""The shipped labelled sets are well-formed, the trained head matches them, the TF-IDF model scores as shipped."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ragplane_guardrail import datasets
from ragplane_guardrail.detectors.injection_classifier import REFERENCE_TOLERANCE, TfidfClassifier
from ragplane_guardrail.training import training_files

pytestmark = pytest.mark.unit

DIRECTORY = datasets.default_directory()


def _raw_rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DIRECTORY / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_sets_have_the_promised_sizes_and_labels():
    injection = datasets.load(DIRECTORY / "injection.jsonl")
    benign = datasets.load(DIRECTORY / "benign.jsonl")
    pii = datasets.load_pii_set()
    assert len(injection) >= 150 and {e.label for e in injection} == {"injection"}
    assert len(benign) >= 150 and {e.label for e in benign} == {"benign"}
    assert sum(e.label == "pii" for e in pii) >= 90 and sum(e.label == "clean" for e in pii) >= 30
    assert {e.category for e in injection} == {"prompt_injection", "jailbreak"}


def test_ids_are_unique_and_no_text_is_in_both_dev_and_holdout():
    examples = datasets.load_injection_sets() + datasets.load_pii_set()
    assert len({e.id for e in examples}) == len(examples)
    dev = {e.text for e in examples if e.split == "dev"}
    holdout = {e.text for e in examples if e.split == "holdout"}
    assert holdout and not dev & holdout


def test_every_pii_span_covers_its_labelled_value():
    for row in _raw_rows("pii.jsonl"):
        for span in row["spans"]:
            assert row["text"][span["start"] : span["end"]] == span["value"], row["id"]


def test_shipped_embedding_head_was_trained_on_the_current_sets():
    head = json.loads(resources.files("ragplane_guardrail.models").joinpath("injection_head.json").read_text())
    assert head["trained_on"]["sha256"] == datasets.fingerprint(training_files(DIRECTORY)), (
        "the datasets changed: retrain with python -m ragplane_guardrail.training"
    )
    assert len(head["coef"]) == 384


def test_tfidf_classifier_scores_the_reference_texts_as_under_scikit_learn_1_7_2():
    classifier = TfidfClassifier()
    classifier.load()
    assert classifier.reference_deviation() <= REFERENCE_TOLERANCE
