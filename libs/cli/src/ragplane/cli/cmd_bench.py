"""``ragplane bench NAME``: benchmarks that print tables, save JSON and record figures.

Each benchmark lives in ``ragplane.cli.bench_<name>`` and provides ``HELP``, ``add_arguments(parser)`` and
``run(args) -> list[BenchResult]`` (optionally ``exit_code(results)``); this module owns what they share: the
common flags, the table or ``--json`` output, the saved results, and ``--record`` (``docs/figures/*.json`` and
``docs/FIGURES.md``). In-process measurements live in the package they measure (``ragplane_<service>.bench``),
installed with ``pip install 'ragplane-cli[bench]'``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shlex
import time
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from ragplane.runtime.bench import BenchResult, write_figure, write_figures_page

BENCHMARKS = ("ingest", "query", "retrieve", "guardrail", "generate", "rerank", "embed", "hostile", "tls", "gateway")
# Flags about where results go, not what is measured: left out of a figure's command.
_OUTPUT_FLAGS = {"out", "json", "record", "figures", "machine", "variant", "help"}


class BenchDependencyError(RuntimeError):
    """A benchmark needs a service package that is not installed."""


def service_module(module: str) -> ModuleType:
    """Import ``module`` of a service package, saying what to install when the package is missing.

    Raises:
        BenchDependencyError: the service package is not installed.
    """
    package = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != package:
            raise
        raise BenchDependencyError(
            f"this benchmark needs the {package.replace('_', '-')} package: pip install 'ragplane-cli[bench]'"
        ) from exc


def load_dataset(name_or_path: str = "squad-dev") -> Any:
    """A dataset (``squad-dev`` or a SQuAD JSON / ragplane JSONL file) read by the eval service's loader."""
    from ragplane.cli.datasets import resolve_dataset
    from ragplane.cli.output import progress

    return service_module("ragplane_eval.datasets").load_dataset(resolve_dataset(name_or_path, progress=progress))


def machine_description() -> str:
    """Free text for a figure's ``machine``: cores, memory and the 1-minute load average."""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, load {os.getloadavg()[0]:.1f}"


def command_line(name: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """``ragplane bench NAME`` plus every measurement flag whose value differs from its default."""
    words = ["ragplane", "bench", name]
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of a parser's options
        if not action.option_strings or action.dest in _OUTPUT_FLAGS:
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default:
            continue
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
            words.append(flag)
        elif isinstance(value, list) and isinstance(action, argparse._AppendAction):  # noqa: SLF001
            words += [word for item in value for word in (flag, str(item))]
        else:
            words += [flag, *(str(v) for v in (value if isinstance(value, list) else [value]))]
    return shlex.join(words)


def save_results(name: str, results: list[BenchResult], out_dir: str | None) -> Path:
    """Write ``results`` (plus machine facts) to ``<out_dir>/<name>-<timestamp>.json``; return the path."""
    directory = Path(out_dir or "bench-results")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        "benchmark": name,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "description": machine_description(),
        },
        "results": [result.to_json() for result in results],
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path


def record(results: list[BenchResult], command: str, machine: str, figures_dir: Path) -> list[Path]:
    """Write each result's figures file under ``figures_dir`` and regenerate the FIGURES.md next to it."""
    paths = [write_figure(result.figure(command, machine), figures_dir) for result in results]
    paths.append(write_figures_page(figures_dir, figures_dir.parent / "FIGURES.md"))
    return paths


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every benchmark has: where results go and how they are shown."""
    parser.add_argument("--out", default=None, help="folder for the JSON results (default ./bench-results)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the figures to --figures (<bench>[-<variant>].json) and regenerate FIGURES.md",
    )
    parser.add_argument(
        "--figures",
        type=Path,
        default=Path("docs/figures"),
        help="figures folder for --record (default docs/figures; FIGURES.md goes next to it)",
    )
    parser.add_argument(
        "--machine", default="", help="machine description for --record (default: cores, memory and load of this one)"
    )
    parser.add_argument(
        "--variant",
        default="",
        help="name the setup measured (e.g. late-interaction-cold): "
        "prefixes each result's variant, so --record keeps it apart",
    )


def _execute(name: str, module: ModuleType, parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from ragplane.cli.output import console, print_json, print_result

    results = module.run(args)
    for result in results:
        if args.variant:
            result.variant = f"{args.variant}-{result.variant}" if result.variant else args.variant
    path = save_results(name, results, args.out)
    if args.json:
        print_json([result.to_json() for result in results])
    else:
        for result in results:
            print_result(result)
        console.print(f"saved {path}", style="dim")
    if args.record:
        written = record(results, command_line(name, parser, args), args.machine or machine_description(), args.figures)
        console.print("recorded " + ", ".join(str(p) for p in written), style="dim")
    exit_code = getattr(module, "exit_code", None)
    return exit_code(results) if exit_code else 0


def _cmd_figures(args: argparse.Namespace) -> int:
    from ragplane.cli.output import console

    console.print(f"wrote {write_figures_page(args.figures, args.figures.parent / 'FIGURES.md')}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ragplane bench`` with one sub-command per benchmark module found, and ``bench figures``."""
    bench = subparsers.add_parser("bench", help="benchmarks (tables on screen, JSON saved, figures recorded)")
    sub = bench.add_subparsers(dest="benchmark", required=True)
    figures = sub.add_parser("figures", help="regenerate docs/FIGURES.md from docs/figures/*.json")
    figures.add_argument("--figures", type=Path, default=Path("docs/figures"), help="figures folder")
    figures.set_defaults(func=_cmd_figures)
    for name in BENCHMARKS:
        module_name = f"ragplane.cli.bench_{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        parser = sub.add_parser(
            name, help=module.HELP, description=module.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        module.add_arguments(parser)
        add_common_arguments(parser)
        parser.set_defaults(func=partial(_execute, name, module, parser))
