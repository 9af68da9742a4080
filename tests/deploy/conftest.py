"""Fixtures of the deployment tests: the real helm binary and the scenarios rendered once (from the chart tests)."""

from __future__ import annotations

from chart.conftest import helm, render, rendered_scenarios

__all__ = ["helm", "render", "rendered_scenarios"]
