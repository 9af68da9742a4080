"""docs/FIGURES.md shows exactly the figures in docs/figures/*.json (regenerate with `ragplane bench figures`)."""

from __future__ import annotations

import pathlib

import pytest

from ragplane.runtime.bench import render_figures

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_figures_page_is_up_to_date():
    assert (ROOT / "docs" / "FIGURES.md").read_text() == render_figures(ROOT / "docs" / "figures"), (
        "docs/FIGURES.md is stale: run `ragplane bench figures` from the repository root"
    )
