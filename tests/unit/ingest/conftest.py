"""Fixtures of the ingest unit tests: the real tokenizer and the in-memory document builders."""

from __future__ import annotations

from types import ModuleType

import pytest

from ragplane_ingest.chunking import HFTokenizer


@pytest.fixture(scope="session")
def docgen() -> ModuleType:
    from support import ingest_docgen

    return ingest_docgen


@pytest.fixture(scope="session")
def tokenizer() -> HFTokenizer:
    return HFTokenizer.default()
