"""``ragplane bench hostile``: worst-case time and peak memory of the parsers, the chunker and the guardrail.

Hostile inputs of each size (default 10 kB, 100 kB, 1 MB) in several shapes per target: whitespace runs, huge
words and digit runs, deep nesting, pathological Markdown, many tiny elements, split control tokens. Targets:
the ingest parsers (text, markdown, html, pdf, docx) and the chunker (``ragplane_ingest.bench``); the guardrail's
text views, its detectors without models and the CheckInput, ScanDocument and CheckOutput checks in process
(``ragplane_guardrail.bench``). Every case runs in a fresh process under ``--timeout`` (reported as "timeout"
instead of hanging), so one case's peak memory does not hide another's. The growth column is the time of the
largest size over the next one: about 10 for a tenfold input means linear time.
"""

from __future__ import annotations

import argparse
from typing import Any

from ragplane.cli.cmd_bench import service_module
from ragplane.cli.output import console
from ragplane.runtime.bench import BenchResult, growth, run_isolated

HELP = "worst-case time and memory of the parsers, chunker and guardrail on hostile inputs"
PACKAGES = ("ingest", "guardrail")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The hostile benchmark's flags."""
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="input sizes in bytes"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per case (the median is shown)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds one case may run before 'timeout'")
    parser.add_argument("--shapes", type=int, default=0, help="only the first N shapes of each target (0: all)")
    parser.add_argument("--only", choices=PACKAGES, default=None, help="only the ingest or only the guardrail targets")


def size_label(size: int) -> str:
    """``10kB``, ``1MB``, ``512B``: a size as a column prefix."""
    for unit, scale in (("MB", 1_000_000), ("kB", 1_000)):
        if size >= scale and size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def columns(sizes: list[int]) -> list[str]:
    """Time and peak memory per size, then the growth of each from the next-largest size to the largest."""
    labels = [size_label(size) for size in sizes]
    return [*(f"{label}_ms" for label in labels), *(f"{label}_peak_mb" for label in labels), "time_growth", "outcome"]


def _limited(cases: list[tuple[str, str]], shapes: int) -> list[tuple[str, str]]:
    if not shapes:
        return cases
    seen: dict[str, int] = {}
    kept = []
    for target, shape in cases:
        seen[target] = seen.get(target, 0) + 1
        if seen[target] <= shapes:
            kept.append((target, shape))
    return kept


def _row(module: str, target: str, shape: str, args: argparse.Namespace) -> tuple[dict[str, Any], list[Any]]:
    """One case at every size (stopping after a timeout: a larger input would only time out too)."""
    values: dict[str, Any] = {}
    figures = []
    outcome = "ok"
    for size in args.sizes:
        label = size_label(size)
        figure = run_isolated(module, [target, shape, str(size), str(args.repeat)], args.timeout)
        figures.append({"size": size, **figure})
        outcome = figure["outcome"]
        if outcome == "timeout":
            values[f"{label}_ms"] = f">{args.timeout * 1000:.0f}"
            break
        values[f"{label}_ms"], values[f"{label}_peak_mb"] = figure.get("wall_ms"), figure.get("peak_mb")
        if outcome.startswith("error"):
            break
    times = [values.get(f"{size_label(size)}_ms") for size in args.sizes[-2:]]
    if len(times) == 2 and all(isinstance(t, float) for t in times):
        values["time_growth"] = growth(times[0], times[1])
    values["outcome"] = outcome
    return values, figures


def _bench_module(package: str) -> Any:
    if package == "ingest":
        return service_module("ragplane_ingest.bench")
    return service_module("ragplane_guardrail.bench")


def _result(package: str, args: argparse.Namespace) -> BenchResult:
    bench = _bench_module(package)
    module = bench.__name__
    cases = _limited(bench.hostile_cases(), args.shapes)
    sizes = " / ".join(size_label(size) for size in args.sizes)
    result = BenchResult(
        "hostile",
        columns(args.sizes),
        variant=package,
        title=f"hostile inputs, {package} ({sizes}; median of {args.repeat}, ms; peak MiB)",
        notes="Each case in a fresh process; time_growth is the largest size's time over the next size's "
        "(about 10 for tenfold inputs is linear). peak_mb is the larger of the process's peak-RSS growth and the "
        "Python heap's traced peak during one more call (RSS alone where that trace ran past the timeout); outcome is the last size's (a parser's refusal is an outcome)."
        + (
            " Guardrail: length limits lifted so the detectors see the whole text; the model detectors "
            "(embedding classifier, Presidio, semantic grounding) are left out."
            if package == "guardrail"
            else ""
        ),
    )
    with console.status(f"hostile inputs: {package}") as spinner:
        for index, (target, shape) in enumerate(cases, start=1):
            spinner.update(f"hostile inputs: {package} {index}/{len(cases)} {target} {shape}")
            values, figures = _row(module, target, shape, args)
            result.add(f"{target} {shape}", values)
            result.details[f"{target} {shape}"] = figures
    return result


def worst(results: list[BenchResult], sizes: list[int]) -> BenchResult:
    """Per target, its slowest shape at the largest size (a timeout counts as slowest) and that shape's peak."""
    label = size_label(sizes[-1])
    result = BenchResult(
        "hostile",
        ["worst_shape", f"{label}_ms", f"{label}_peak_mb", "time_growth", "outcome"],
        variant="worst",
        title=f"hostile inputs: the worst shape per target at {label}",
    )
    by_target: dict[str, list[dict[str, Any]]] = {}
    for table in results:
        for row in table.rows:
            target, _, shape = row["label"].partition(" ")
            by_target.setdefault(target, []).append({"worst_shape": shape, **row["values"]})

    def cost(values: dict[str, Any]) -> float:
        time_ms = values.get(f"{label}_ms")
        return time_ms if isinstance(time_ms, float) else float("inf")

    for target, rows in by_target.items():
        slowest = max(rows, key=cost)
        result.add(target, {column: slowest.get(column) for column in result.columns})
    return result


def run(args: argparse.Namespace) -> list[BenchResult]:
    """One table per package (every target and shape at every size), then the worst shape per target."""
    packages = [args.only] if args.only else list(PACKAGES)
    results = [_result(package, args) for package in packages]
    return [worst(results, args.sizes), *results]
