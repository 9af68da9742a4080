"""``ragplane bench``: the shared flags, JSON output, --record, and the service packages the CLI declares."""

from __future__ import annotations

import argparse
import ast
import json
import pathlib
import tomllib
import types

import pytest

from ragplane.cli import cmd_bench
from ragplane.cli.main import build_parser
from ragplane.runtime.bench import BenchResult, load_figures

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[3]
CLI = ROOT / "libs" / "cli"


def _service_packages_used() -> set[str]:
    """Top-level ``ragplane_*`` packages the CLI imports or loads with ``service_module``."""
    used = set()
    for path in (CLI / "src" / "ragplane" / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "service_module"
                and isinstance(node.args[0], ast.Constant)
            ):
                names = [node.args[0].value]
            used |= {name.split(".")[0] for name in names if name.startswith("ragplane_")}
    return used


def test_every_service_package_the_cli_uses_is_declared_in_its_bench_extra():
    project = tomllib.loads((CLI / "pyproject.toml").read_text())["project"]
    declared = {name.replace("-", "_") for name in project["optional-dependencies"]["bench"]}
    used = _service_packages_used()
    assert used == {
        "ragplane_embed",
        "ragplane_eval",
        "ragplane_generate",
        "ragplane_guardrail",
        "ragplane_ingest",
        "ragplane_rerank",
        "ragplane_retrieve",
    }
    assert used <= declared


def test_a_missing_service_package_names_what_to_install():
    with pytest.raises(cmd_bench.BenchDependencyError, match=r"ragplane-nothing.*ragplane-cli\[bench\]"):
        cmd_bench.service_module("ragplane_nothing.bench")


def test_every_benchmark_has_the_shared_output_flags():
    parser = build_parser()
    for name in cmd_bench.BENCHMARKS:
        args = parser.parse_args(["bench", name, "--json", "--record", "--variant", "v", "--out", "o"])
        assert (args.json, args.record, args.variant, args.out) == (True, True, "v", "o")


def test_a_figures_command_lists_only_flags_that_differ_from_their_defaults():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", action="append", default=None)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32])
    cmd_bench.add_common_arguments(parser)
    args = parser.parse_args(
        [
            "--backend",
            "late-interaction",
            "--backend",
            "passthrough",
            "--iterations",
            "30",
            "--quality",
            "--sizes",
            "8",
            "16",
            "--record",
            "--json",
        ]
    )
    assert cmd_bench.command_line("rerank", parser, args) == (
        "ragplane bench rerank --backend late-interaction --backend passthrough --quality --sizes 8 16"
    )


def _tiny_benchmark() -> types.ModuleType:
    module = types.ModuleType("bench_tiny")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--size", type=int, default=3)

    def run(args: argparse.Namespace) -> list[BenchResult]:
        result = BenchResult("tiny", ["n", "p50_ms"], details={"size": args.size})
        result.add("only", {"n": args.size, "p50_ms": 1.5})
        return [result]

    module.add_arguments, module.run = add_arguments, run
    return module


def _parse(argv: list[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser()
    module = _tiny_benchmark()
    module.add_arguments(parser)
    cmd_bench.add_common_arguments(parser)
    return parser, parser.parse_args(argv)


def test_json_prints_the_results_and_saves_them_with_machine_facts(tmp_path, capsys):
    parser, args = _parse(["--size", "5", "--json", "--out", str(tmp_path)])
    assert cmd_bench._execute("tiny", _tiny_benchmark(), parser, args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == [
        {
            "bench": "tiny",
            "variant": "",
            "title": "",
            "columns": ["n", "p50_ms"],
            "rows": [{"label": "only", "values": {"n": 5, "p50_ms": 1.5}}],
            "notes": "",
            "details": {"size": 5},
        }
    ]
    saved = json.loads(next(tmp_path.glob("tiny-*.json")).read_text())
    assert saved["results"] == printed and saved["machine"]["cpu_count"] > 0


def test_record_writes_the_figures_file_and_regenerates_the_page(tmp_path, capsys):
    figures = tmp_path / "docs" / "figures"
    parser, args = _parse(
        [
            "--size",
            "7",
            "--record",
            "--variant",
            "small",
            "--figures",
            str(figures),
            "--machine",
            "2 cores, idle",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert cmd_bench._execute("tiny", _tiny_benchmark(), parser, args) == 0
    [figure] = load_figures(figures)
    assert figure["variant"] == "small" and figure["command"] == "ragplane bench tiny --size 7"
    assert figure["machine"] == "2 cores, idle" and figure["source"] == "bench"
    assert (figures / "tiny-small.json").is_file()
    assert "| only | 7 | 1.5 |" in (tmp_path / "docs" / "FIGURES.md").read_text()
    assert "only" in capsys.readouterr().out  # the table was printed too
