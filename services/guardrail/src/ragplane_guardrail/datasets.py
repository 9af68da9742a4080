"""The labelled sets shipped in ``services/guardrail/datasets`` (JSONL), for training, tests and the bench."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

INJECTION_FILES = ("injection.jsonl", "benign.jsonl")
PII_FILE = "pii.jsonl"
HOLDOUT_FILE = "holdout.jsonl"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    category: str


@dataclass(frozen=True)
class Example:
    """One labelled text.

    Attributes:
        id: stable identifier, e.g. "inj-001".
        text: the text.
        label: "injection", "benign", "pii" or "clean".
        category: the main category ("prompt_injection", "jailbreak", "benign", "pii.email", "mixed", ...).
        style: sub-kind (direct, indirect, obfuscated, document, code, ...), when given.
        split: "dev" (used to write the rules and train the head) or "holdout" (never used for either).
        spans: labelled PII spans.
    """

    id: str
    text: str
    label: str
    category: str
    style: str = ""
    split: str = "dev"
    spans: tuple[Span, ...] = field(default_factory=tuple)

    @property
    def is_attack(self) -> bool:
        return self.label == "injection"


def default_directory() -> Path:
    """``services/guardrail/datasets`` of the source tree this package was installed from."""
    return Path(__file__).resolve().parents[2] / "datasets"


def load(path: Path) -> list[Example]:
    """Examples of one JSONL file.

    Raises:
        ValueError: a line is not valid JSON or misses a field; the message names file and line.
    """
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            spans = tuple(Span(int(s["start"]), int(s["end"]), str(s["category"])) for s in row.get("spans", ()))
            examples.append(
                Example(
                    row["id"],
                    row["text"],
                    row["label"],
                    row["category"],
                    row.get("style", ""),
                    row.get("split", "dev"),
                    spans,
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return examples


def load_injection_sets(directory: Path | None = None, include_holdout: bool = True) -> list[Example]:
    """Injection and benign examples (dev, and the holdout when asked)."""
    directory = directory or default_directory()
    names = INJECTION_FILES + ((HOLDOUT_FILE,) if include_holdout else ())
    return [example for name in names for example in load(directory / name)]


def load_pii_set(directory: Path | None = None) -> list[Example]:
    return load((directory or default_directory()) / PII_FILE)


def fingerprint(paths: list[Path]) -> str:
    """sha256 over the files' bytes, in order: ties a trained head to the data it was trained on."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
