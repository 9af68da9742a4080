"""The benchmark harness: timing, one percentile definition, results as a table or JSON, and the figures record.

Every ``ragplane bench`` command and every in-process benchmark in a service package (``ragplane_<name>.bench``)
measures with these helpers, so a p95 in one figure means the same as a p95 in any other.

Percentiles are linear interpolation between closest ranks (numpy's default ``method="linear"``, Hyndman and
Fan's type 7): for ``n`` sorted samples the q-th percentile sits at rank ``h = (n - 1) * q / 100`` and is
``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.

A figures file (``docs/figures/<bench>[-<variant>].json``) records one table with the command that made it, the
date and the machine; ``render_figures`` turns all of them into ``docs/FIGURES.md``.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIGURE_KEYS = ("bench", "variant", "command", "measured_at", "machine", "source", "columns", "rows", "notes")
SOURCES = ("bench", "transcribed")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` by linear interpolation between closest ranks (numpy's default).

    Args:
        values: samples, in any order.
        q: percentile in [0, 100].

    Returns:
        The interpolated value.

    Raises:
        ValueError: ``values`` is empty or ``q`` is outside [0, 100].
    """
    if not values:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], but got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def latency_summary(
    samples_ms: Sequence[float], quantiles: Iterable[int] = (50, 95, 99), digits: int = 2
) -> dict[str, float | int | None]:
    """``{"n", "p50_ms", "p95_ms", "p99_ms", "mean_ms"}`` of latency samples in milliseconds (None when empty)."""
    summary: dict[str, float | int | None] = {"n": len(samples_ms)}
    for q in quantiles:
        summary[f"p{q}_ms"] = round(percentile(samples_ms, q), digits) if samples_ms else None
    summary["mean_ms"] = round(statistics.fmean(samples_ms), digits) if samples_ms else None
    return summary


class Timer:
    """Wall and process CPU time of a ``with`` block, in milliseconds.

    CPU time counts every thread of the process (torch's intra-op threads too): on a shared machine it is what
    the wall time would be without other processes competing for the cores.
    """

    def __init__(self) -> None:
        self.wall_ms = 0.0
        self.cpu_ms = 0.0
        self._wall = self._cpu = 0.0

    def __enter__(self) -> Timer:
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall_ms = (time.perf_counter() - self._wall) * 1000.0
        self.cpu_ms = (time.process_time() - self._cpu) * 1000.0


def measure(function: Callable[[], Any], iterations: int, warmup: int = 0) -> list[float]:
    """Call ``function`` ``warmup`` times untimed, then ``iterations`` times; return the wall milliseconds of each."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(iterations):
        with Timer() as timer:
            function()
        samples.append(timer.wall_ms)
    return samples


@dataclass
class BenchResult:
    """One table of a benchmark: labelled rows of values under named columns, plus raw details for the JSON.

    ``bench`` and ``variant`` name the figures file (``<bench>[-<variant>].json``); ``title`` heads the table on
    screen; ``details`` holds measurements that are not table cells (they go to ``--json`` and the saved
    results, not to the figures).
    """

    bench: str
    columns: list[str]
    variant: str = ""
    title: str = ""
    notes: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``<bench>`` or ``<bench>-<variant>``: the figures file's stem."""
        return f"{self.bench}-{self.variant}" if self.variant else self.bench

    def add(self, label: str, values: dict[str, Any]) -> None:
        """Append a row; ``values`` keys must be columns (missing ones show empty)."""
        unknown = set(values) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.name}: values {sorted(unknown)} are not columns {self.columns}")
        self.rows.append({"label": label, "values": dict(values)})

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """Header and rows for a terminal table (the label first)."""
        return ["", *self.columns], [[row["label"], *(row["values"].get(c) for c in self.columns)] for row in self.rows]

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data (what ``--json`` prints)."""
        return {
            "bench": self.bench,
            "variant": self.variant,
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
            "details": self.details,
        }

    def figure(
        self, command: str, machine: str, measured_at: str | None = None, source: str = "bench"
    ) -> dict[str, Any]:
        """The figures record of this result (the schema of ``docs/figures/*.json``)."""
        return {
            "bench": self.bench,
            "variant": self.variant,
            "command": command,
            "measured_at": measured_at or time.strftime("%Y-%m-%d"),
            "machine": machine,
            "source": source,
            "columns": list(self.columns),
            "rows": self.rows,
            "notes": self.notes,
        }


def check_figure(figure: dict[str, Any], where: str = "figure") -> None:
    """Raise ValueError naming ``where`` unless ``figure`` has exactly the figures schema."""
    if set(figure) != set(FIGURE_KEYS):
        raise ValueError(f"{where}: keys must be {list(FIGURE_KEYS)}, but got {list(figure)}")
    if figure["source"] not in SOURCES:
        raise ValueError(f"{where}: source must be one of {SOURCES}, but got {figure['source']!r}")
    for row in figure["rows"]:
        unknown = set(row.get("values", {})) - set(figure["columns"])
        if set(row) != {"label", "values"} or unknown:
            raise ValueError(f"{where}: a row must be {{label, values}} over the columns, but got {row}")


def write_figure(figure: dict[str, Any], directory: Path) -> Path:
    """Write ``figure`` to ``<directory>/<bench>[-<variant>].json`` and return the path."""
    stem = f"{figure['bench']}-{figure['variant']}" if figure["variant"] else figure["bench"]
    check_figure(figure, stem)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.json"
    path.write_text(json.dumps(figure, indent=2, ensure_ascii=False) + "\n")
    return path


def load_figures(directory: Path) -> list[dict[str, Any]]:
    """Every figures file under ``directory``, checked, ordered by bench then variant."""
    figures = []
    for path in sorted(directory.glob("*.json")):
        figure = json.loads(path.read_text())
        check_figure(figure, str(path))
        figures.append(figure)
    return sorted(figures, key=lambda f: (f["bench"], f["variant"]))


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|")


def _figure_markdown(figure: dict[str, Any]) -> list[str]:
    heading = figure["variant"] or "default"
    lines = [
        f"### {heading}",
        "",
        f"`{figure['command']}`",
        "",
        f"Measured {figure['measured_at']} on {figure['machine']} ({figure['source']}).",
        "",
    ]
    if figure["notes"]:
        lines += [figure["notes"], ""]
    lines.append("| | " + " | ".join(_cell(c) for c in figure["columns"]) + " |")
    lines.append("|---" * (len(figure["columns"]) + 1) + "|")
    for row in figure["rows"]:
        cells = [_cell(row["values"].get(c)) for c in figure["columns"]]
        lines.append(f"| {_cell(row['label'])} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def render_figures(directory: Path) -> str:
    """``docs/FIGURES.md``: one table per figures file under ``directory``, grouped by bench."""
    lines = [
        "# Figures",
        "",
        "Measured figures of ragplane, one table per file in `docs/figures/`, with the command that makes it.",
        "Generated: `ragplane bench <name> ... --record` writes a file and this page; `ragplane bench figures`",
        "regenerates the page alone (a test fails when it is stale).",
        "",
    ]
    bench = None
    for figure in load_figures(directory):
        if figure["bench"] != bench:
            bench = figure["bench"]
            lines += [f"## {bench}", ""]
        lines += _figure_markdown(figure)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_figures_page(directory: Path, page: Path) -> Path:
    """Regenerate ``page`` (``docs/FIGURES.md``) from the figures under ``directory``; return its path."""
    page.write_text(render_figures(directory))
    return page


def _peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report_case(function: Callable[[], Any], repeat: int = 1) -> dict[str, Any]:
    """Time ``function`` ``repeat`` times in this (fresh) process and print its figures as JSON lines.

    Meant for the child of ``run_isolated``. The time and the peak resident-set growth are printed as soon as
    the timed calls end; then one more (untimed) call traces the Python heap and the line is printed again with
    the larger peak, so a trace that runs past the parent's timeout still leaves the time measured. An
    exception ends the case and is reported (a parser rejecting a hostile input is an outcome, not a failure).

    Returns:
        ``{"wall_ms", "cpu_ms", "peak_mb", "traced", "outcome"}``: the median wall and CPU milliseconds of the
        calls and the peak memory the calls needed (the input is already built).
    """
    before = _peak_rss_mb()
    walls, cpus, outcome = [], [], "ok"
    for _ in range(max(1, repeat)):
        with Timer() as timer:
            try:
                function()
            except Exception as exc:  # noqa: BLE001 - any rejection is the figure being measured
                outcome = f"{type(exc).__name__}: {str(exc)[:80]}"
        walls.append(timer.wall_ms)
        cpus.append(timer.cpu_ms)
        if outcome != "ok":
            break
    native_mb = max(0.0, _peak_rss_mb() - before)
    figures = {
        "wall_ms": round(statistics.median(walls), 2),
        "cpu_ms": round(statistics.median(cpus), 2),
        "peak_mb": round(native_mb, 1),
        "traced": False,
        "outcome": outcome,
    }
    print(json.dumps(figures), flush=True)
    figures.update(peak_mb=round(max(native_mb, _traced_peak_mb(function)), 1), traced=True)
    print(json.dumps(figures), flush=True)
    return figures


def _traced_peak_mb(function: Callable[[], Any]) -> float:
    """Peak of the Python heap during one more (untimed: tracing slows allocation) call, in MiB.

    The resident-set peak misses what fits in memory the process already held and freed (its earlier peak,
    say while loading a model); the traced peak misses native allocations. The case reports the larger.
    """
    import tracemalloc

    tracemalloc.start()
    try:
        function()
    except Exception:  # noqa: BLE001, S110 - the timed calls already reported it
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def run_isolated(module: str, arguments: Sequence[str], timeout_s: float) -> dict[str, Any]:
    """Run ``python -m module *arguments`` in a fresh process and return the JSON of its last output line.

    A fresh process per case keeps one case's peak memory (and warmed caches) from hiding another's.

    Returns:
        The child's last JSON line; ``{"outcome": "timeout"}`` when it ran past ``timeout_s`` (it is killed)
        before printing one, or
        ``{"outcome": "error: ..."}`` with the end of its stderr when it failed.
    """
    import subprocess
    import sys

    try:
        done = subprocess.run(
            [sys.executable, "-m", module, *arguments], capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        # Timed calls that finished before the memory trace ran out of time are still a figure.
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        printed = [line for line in output.splitlines() if line.startswith("{")]
        return json.loads(printed[-1]) if printed else {"outcome": "timeout"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"outcome": f"error: {tail[:120]}"}
    return json.loads(lines[-1])


def growth(small: float | None, large: float | None) -> float | None:
    """``large / small`` rounded (10 for a tenfold input means linear time), None when either is missing."""
    if not small or large is None:
        return None
    return round(large / small, 1)
