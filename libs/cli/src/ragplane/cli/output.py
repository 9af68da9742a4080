"""Shared terminal output: tables, JSON, and the client connection to the local stack."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from ragplane.runtime.bench import BenchResult

console = Console(stderr=False)
err_console = Console(stderr=True)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


def print_result(result: BenchResult) -> None:
    """A benchmark result as a table titled with its title (or name), its notes under it."""
    header, rows = result.table()
    print_table(result.title or result.name, header, rows)
    if result.notes:
        console.print(result.notes, highlight=False)


def progress(message: str) -> None:
    """A dim progress line on stderr (stdout stays clean for ``--json``)."""
    err_console.print(f"[dim]{message}[/dim]")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def client_metadata(api_key: str | None) -> list[tuple[str, str]]:
    key = api_key or os.environ.get("RAGPLANE_API_KEY") or "dev-key"
    return [("authorization", f"Bearer {key}")]


def address(flag: str | None, env_var: str, default: str) -> str:
    return flag or os.environ.get(env_var) or default
