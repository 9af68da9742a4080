"""Fixtures of the ingest unit tests: the real tokenizer and the in-memory document builders."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from ragplane_ingest.chunking import HFTokenizer


def load_docgen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ragplane_ingest_docgen", Path(__file__).with_name("ingest_docgen.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def docgen() -> ModuleType:
    return load_docgen()


@pytest.fixture(scope="session")
def tokenizer() -> HFTokenizer:
    return HFTokenizer.default()
