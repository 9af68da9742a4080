"""``ragplane bench NAME``: benchmarks that print a table and save JSON.

Each benchmark lives in ``ragplane.cli.bench_<name>`` and provides ``register(subparsers)`` adding its own
sub-command; a missing module adds no command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from pathlib import Path
from typing import Any

BENCHMARKS = ("ingest", "query", "retrieve", "guardrail", "generate", "rerank", "embed")


def save_results(name: str, results: dict[str, Any], out_dir: str | None) -> Path:
    """Write ``results`` (plus machine facts) to ``<out_dir>/<name>-<timestamp>.json``; return the path."""
    directory = Path(out_dir or "bench-results")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "benchmark": name,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count(),
                    "platform": platform.platform()},
        "results": results,
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=None, help="folder for the JSON results (default ./bench-results)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks (tables on screen, JSON saved)")
    sub = bench.add_subparsers(dest="benchmark", required=True)
    for name in BENCHMARKS:
        module_name = f"ragplane.cli.bench_{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(sub)
