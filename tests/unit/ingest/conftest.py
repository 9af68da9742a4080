"""Fixtures of the ingest unit tests: the real tokenizer and the in-memory document builders."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from ragplane_ingest.chunking import HFTokenizer

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


@pytest.fixture(scope="session")
def docgen() -> ModuleType:
    import ingest_docgen

    return ingest_docgen


@pytest.fixture(scope="session")
def tokenizer() -> HFTokenizer:
    return HFTokenizer.default()
