"""``ragplane eval run DATASET`` and ``ragplane eval report RUN_ID``.

``run`` sends the dataset to the eval service's RunDataset, shows its streamed progress, prints the summary,
saves the per-question rows (JSONL), the report (JSON) and a plot (PNG) under ``--out``, and checks
``--gate`` conditions: ``ragplane eval run squad-dev --limit 500 --gate answer.f1>=0.5`` exits 1 when the F1
is below 0.5, naming the failed gate (for CI).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ragplane.cli.output import (
    add_connection_args,
    address,
    connection,
    console,
    err_console,
    print_json,
    print_table,
)
from ragplane.cli.output import api_key as output_api_key

DEFAULT_EVAL_ADDR = "127.0.0.1:50058"
MODES = ("dense", "sparse", "hybrid", "rerank")
RETRIEVAL_METRICS = ("hit@1", "hit@5", "hit@20", "recall@5", "recall@20", "precision@5", "mrr@10", "ndcg@10")
WITH_INTERVALS = ("answer.exact_match", "answer.f1", *(f"retrieval.{m}.mrr@10" for m in MODES))
PHASES = {
    "load": "loading the dataset",
    "ingest": "ingesting the corpus",
    "index": "waiting for the index",
    "questions": "asking the questions",
}


def known_metrics(retrieval_only: bool = False) -> list[str]:
    """Every metric name an eval report can hold (the eval service's report contract)."""
    names = ["run.questions", "run.errors", "run.documents", "run.failed_documents"]
    for mode in MODES:
        names += [f"retrieval.{mode}.{metric}" for metric in RETRIEVAL_METRICS]
    names += ["latency.retrieval.p50_ms", "latency.retrieval.p95_ms"]
    if not retrieval_only:
        names += [
            "answer.exact_match",
            "answer.f1",
            "answer.blocked_rate",
            "answer.error_rate",
            "judge.faithfulness",
            "judge.answer_relevance",
            "judge.context_relevance",
            "latency.p50_ms",
            "latency.p95_ms",
        ]
    for name in WITH_INTERVALS:
        if name in names:
            names += [f"{name}.ci95_low", f"{name}.ci95_high"]
    return names


# -- gates ------------------------------------------------------------------------------------------------

_GATE = re.compile(r"^\s*([A-Za-z0-9_.@]+)\s*(>=|<=)\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


class GateError(ValueError):
    """A --gate value is malformed or names an unknown metric."""


@dataclass(frozen=True)
class Gate:
    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"

    def check(self, metrics: dict[str, float]) -> tuple[bool, str]:
        """(passed, explanation) for a report's metrics; a metric missing from the report fails."""
        if self.metric not in metrics:
            return False, f"{self}: {self.metric} is not in this report"
        value = metrics[self.metric]
        passed = value >= self.threshold if self.op == ">=" else value <= self.threshold
        return passed, f"{self}: {self.metric} = {value:.4f}"


def parse_gate(text: str, valid: list[str] | None = None) -> Gate:
    """``name>=value`` or ``name<=value``.

    Raises:
        GateError: malformed, or ``name`` not among ``valid`` (the message lists the valid names).
    """
    match = _GATE.match(text)
    if not match:
        raise GateError(f"--gate {text!r}: expected METRIC>=VALUE or METRIC<=VALUE, e.g. answer.f1>=0.5")
    metric, op, value = match.groups()
    names = valid if valid is not None else known_metrics()
    if metric not in names:
        raise GateError(f"--gate {text!r}: unknown metric {metric!r}; valid metrics: {', '.join(names)}")
    return Gate(metric, op, float(value))


# -- outputs ----------------------------------------------------------------------------------------------


def _row_json(result: Any) -> dict[str, Any]:
    return {
        "question_id": result.question_id,
        "question": result.question,
        "reference_answers": list(result.reference_answers),
        "relevant_doc_ids": list(result.relevant_doc_ids),
        "request_id": result.request_id,
        "answer": result.answer,
        "blocked": result.blocked,
        "retrieved": result.retrieved,
        "cited_doc_ids": list(result.cited_doc_ids),
        "metrics": result.metrics,
        "error": result.error.message if result.error else "",
    }


def _timestamp(moment: datetime | None) -> str:
    """RFC 3339 in UTC as protobuf's Timestamp JSON writes it (0, 3 or 6 fractional digits, 'Z')."""
    if moment is None:
        return ""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micros = moment.microsecond
    if micros:
        text += f".{micros // 1000:03d}" if micros % 1000 == 0 else f".{micros:06d}"
    return text + "Z"


def _report_json(report: Any) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "dataset": report.dataset,
        "questions": report.questions,
        "tenant": report.tenant,
        "retrieval_only": report.retrieval_only,
        "judge": report.judge,
        "started_at": _timestamp(report.started_at),
        "finished_at": _timestamp(report.finished_at),
        "rows_path": report.rows_path,
        "metrics": report.metrics,
    }


def save_plot(metrics: dict[str, float], rows: list[dict[str, Any]], path: Path) -> Path:
    """Bars of the retrieval metrics per mode, and a histogram of answer F1 (or of the first relevant rank)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = ("hit@1", "hit@5", "hit@20", "mrr@10", "ndcg@10")
    fig, (bars, hist) = plt.subplots(1, 2, figsize=(12, 4.5))
    modes = [m for m in MODES if any(f"retrieval.{m}.{s}" in metrics for s in shown)]
    width = 0.8 / max(1, len(modes))
    for index, mode in enumerate(modes):
        values = [metrics.get(f"retrieval.{mode}.{s}", 0.0) for s in shown]
        positions = [i + (index - (len(modes) - 1) / 2) * width for i in range(len(shown))]
        bars.bar(positions, values, width=width, label=mode)
    bars.set_xticks(range(len(shown)), shown)
    bars.set_ylim(0, 1.15)  # headroom for the legend above the bars
    bars.set_title("retrieval by mode")
    if modes:
        bars.legend(loc="upper center", ncol=len(modes), fontsize="small")
    f1 = [row["metrics"]["answer.f1"] for row in rows if "answer.f1" in row["metrics"]]
    if f1:
        hist.hist(f1, bins=[i / 10 for i in range(11)], color="tab:green", edgecolor="black")
        hist.set_title(f"answer F1 per question (mean {sum(f1) / len(f1):.3f}, n={len(f1)})")
        hist.set_xlabel("token F1")
    else:
        ranks = []
        for row in rows:
            ranked = row["retrieved"].get("rerank") or row["retrieved"].get("hybrid") or []
            relevant = set(row["relevant_doc_ids"])
            ranks.append(next((i for i, doc in enumerate(ranked, start=1) if doc in relevant), 0))
        hist.hist([r if r else 21 for r in ranks], bins=range(1, 23), color="tab:blue", edgecolor="black")
        hist.set_title("rank of the first relevant document (21 = not retrieved)")
        hist.set_xlabel("rank")
    hist.set_ylabel("questions")
    hist.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def print_summary(report: dict[str, Any]) -> None:
    metrics = report["metrics"]
    rows = []
    for name, value in metrics.items():
        if name.endswith((".ci95_low", ".ci95_high")):
            continue
        low, high = metrics.get(f"{name}.ci95_low"), metrics.get(f"{name}.ci95_high")
        interval = f"{low:.3f} - {high:.3f}" if low is not None and high is not None else ""
        shown = (
            f"{value:.0f}" if name.startswith("run.") else f"{value:.1f}" if name.endswith("_ms") else f"{value:.4f}"
        )
        rows.append((name, shown, interval))
    mode = "retrieval only" if report["retrieval_only"] else f"judge {report['judge']}"
    print_table(
        f"eval {report['run_id']}: {report['dataset']}, {report['questions']} questions, {mode}",
        ["metric", "value", "95% CI"],
        rows,
    )


# -- commands ---------------------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Any:
    from ragplane.client import Client

    target = address(args.addr, "RAGPLANE_EVAL_ADDR", DEFAULT_EVAL_ADDR)
    return Client(connection=connection(args, target=target))


# -- the dataset the service is given ---------------------------------------------------------------------

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
WHERE_DATASETS_GO = (
    "the eval service reads datasets only from its dataset folders: put the file in <folder>/<tenant>/ of a folder "
    "in the service's RAGPLANE_EVAL_DATASET_DIRS and give its name there (ragplane eval run NAME)"
)


@dataclass(frozen=True)
class StackDatasets:
    """The dataset folders of the local stack's eval service, and the caller's tenant there."""

    roots: tuple[Path, ...]
    tenant: str

    def readable(self, path: Path) -> bool:
        """Whether the service lets the tenant read ``path``: a file of its folder, or shared (access.py's rule)."""
        for root in self.roots:
            if path.is_relative_to(root):
                parts = path.relative_to(root).parts
                if len(parts) == 1 or parts[0] == self.tenant:
                    return True
        return False


def _is_loopback_port(addr: str, port: int) -> bool:
    host, _, raw_port = addr.rpartition(":")
    return host in _LOOPBACK and raw_port == str(port)


def stack_datasets(addr: str, api_key: str | None) -> StackDatasets | None:
    """The local stack's dataset folders when ``addr`` is its running eval service and the key is one of its keys."""
    from ragplane.cli import infra, stack
    from ragplane.runtime.auth import ApiKeyError, parse_api_keys

    service = next((c for c in stack.load_state() if c.name == "eval"), None)
    if service is None or not _is_loopback_port(addr, service.port) or not infra.pid_alive(service.pid):
        return None
    env_file = stack.home() / "run" / "env.json"
    env = json.loads(env_file.read_text()) if env_file.exists() else {}
    try:
        keys = parse_api_keys(env.get("RAGPLANE_API_KEYS", "dev-key=default"))
    except ApiKeyError:
        return None
    tenant = keys.get(output_api_key(api_key))
    if tenant is None:
        return None
    # The eval service's defaults when RAGPLANE_EVAL_DATASET_DIRS is unset (ragplane_eval.config.dataset_roots).
    from ragplane.cli.datasets import default_cache_dir

    data_dir = Path(env.get("RAGPLANE_DATA_DIR") or stack.home() / "data")
    dirs = [d for d in env.get("RAGPLANE_EVAL_DATASET_DIRS", "").split(",") if d.strip()]
    roots = [Path(d.strip()) for d in dirs] or [data_dir / "datasets", default_cache_dir()]
    return StackDatasets(tuple(root.expanduser().resolve() for root in roots), tenant)


def dataset_argument(dataset: str, addr: str, api_key: str | None, progress=None) -> str:
    """What RunDataset is given for the DATASET argument.

    ``squad-dev`` is fetched into the CLI's cache. For the local stack's eval service a local file it may not read
    is staged into the caller's tenant folder of the stack and given by its name there. Otherwise an existing
    local file is given by its absolute path (a service on this machine may have it in its folders), and
    anything else as typed: a name the service looks up in the caller's dataset folders.
    """
    from ragplane.cli.datasets import SQUAD_DEV_NAME, resolve_dataset, stage_dataset

    if dataset != SQUAD_DEV_NAME and not Path(dataset).expanduser().is_file():
        return dataset
    path = resolve_dataset(dataset, progress=progress)
    local = stack_datasets(addr, api_key)
    if local is None or local.readable(path):
        return str(path)
    return stage_dataset(path, local.roots[0] / local.tenant)


def _cmd_run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ragplane.client import ClientError, EvalProgress, EvalReport, QuestionResult

    valid = known_metrics(args.retrieval_only)
    gates = [parse_gate(text, valid) for text in args.gate]
    addr = address(args.addr, "RAGPLANE_EVAL_ADDR", DEFAULT_EVAL_ADDR)
    with err_console.status("resolving the dataset") as spinner:
        dataset = dataset_argument(args.dataset, addr, args.api_key, progress=spinner.update)
    rows: list[dict[str, Any]] = []
    report: dict[str, Any] | None = None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _client(args) as client, Progress(*columns, console=err_console, transient=False) as progress:
        tasks: dict[str, Any] = {}
        events = client.eval_stream(
            dataset,
            limit=args.limit,
            seed=args.seed,
            retrieval_only=args.retrieval_only,
            skip_ingest=args.skip_ingest,
            timeout=args.timeout,
        )
        try:
            with contextlib.closing(events):  # an interrupt closes the stream, which cancels the run
                for event in events:
                    if isinstance(event, EvalProgress):
                        if event.phase not in tasks:
                            tasks[event.phase] = progress.add_task(
                                PHASES.get(event.phase, event.phase), total=max(1, event.total)
                            )
                        progress.update(tasks[event.phase], completed=event.done, total=max(1, event.total))
                    elif isinstance(event, QuestionResult):
                        rows.append(_row_json(event))
                    elif isinstance(event, EvalReport):
                        report = _report_json(event)
        except ClientError as exc:
            if not _is_dataset_refusal(exc):
                raise
            err_console.print(f"[red]error:[/red] {exc.code.name}: {exc.details}")
            err_console.print(WHERE_DATASETS_GO, markup=False)
            return 1
    if report is None:
        err_console.print("[red]error:[/red] the eval service ended the run without a report")
        return 1
    out_dir = Path(args.out) if args.out else Path("eval-results") / report["run_id"]
    out_dir.mkdir(parents=True, exist_ok=True)
    rows_path = out_dir / "rows.jsonl"
    rows_path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    report_path = out_dir / "report.json"
    report_path.write_text(json.dumps(report, indent=2))
    plot_path = save_plot(report["metrics"], rows, out_dir / "plot.png")
    results = [(gate, *gate.check(report["metrics"])) for gate in gates]
    if args.json:
        print_json(
            {
                "report": report,
                "files": {"rows": str(rows_path), "report": str(report_path), "plot": str(plot_path)},
                "gates": [{"gate": str(g), "passed": ok, "detail": detail} for g, ok, detail in results],
            }
        )
    else:
        print_summary(report)
        console.print(f"rows: {rows_path}\nreport: {report_path}\nplot: {plot_path}")
        for _gate, ok, detail in results:
            console.print(f"gate {'[green]passed[/green]' if ok else '[red]FAILED[/red]'}  {detail}")
    failed = [detail for _, ok, detail in results if not ok]
    if failed:
        err_console.print(f"[red]{len(failed)} gate(s) failed:[/red] " + "; ".join(failed))
        return 1
    return 0


def _is_dataset_refusal(exc: Any) -> bool:
    """The service refused the dataset for where it is (not for what is in it)."""
    details = exc.details or ""
    return (
        exc.code.name == "INVALID_ARGUMENT"
        and details.startswith("dataset_path:")
        and ("outside the dataset folders" in details or "no such dataset file" in details)
    )


def _cmd_report(args: argparse.Namespace) -> int:
    with _client(args) as client:
        report = _report_json(client.get_eval_report(args.run_id, timeout=30))
    if args.json:
        print_json(report)
    else:
        print_summary(report)
        console.print(f"rows (in the eval service's reports folder): {report['rows_path']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    evaluate = subparsers.add_parser("eval", help="evaluate retrieval and answers on a labelled dataset")
    sub = evaluate.add_subparsers(dest="eval_command", required=True)
    run = sub.add_parser(
        "run",
        help="run a dataset through the query path and score it",
        description="DATASET: 'squad-dev' (SQuAD v1.1 dev, fetched once), a path to SQuAD-format JSON or "
        "ragplane JSONL (staged into the local stack's dataset folder when the stack runs it), or the name of a "
        "file in the eval service's dataset folders.",
    )
    run.add_argument("dataset", metavar="DATASET")
    run.add_argument("--limit", type=int, default=0, help="questions to sample (0: all)")
    run.add_argument("--seed", type=int, default=0, help="seed of the question sample")
    run.add_argument(
        "--retrieval-only", action="store_true", help="score retrieval and rerank only, without generating (fast)"
    )
    run.add_argument("--skip-ingest", action="store_true", help="the corpus is already indexed: do not ingest")
    run.add_argument(
        "--gate",
        action="append",
        default=[],
        metavar="METRIC>=VALUE",
        help="fail (exit 1) unless the metric meets the bound; repeatable; also METRIC<=VALUE",
    )
    run.add_argument(
        "--out", default=None, help="folder for rows.jsonl, report.json, plot.png (default eval-results/<run_id>)"
    )
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    run.add_argument("--addr", default=None, help=f"eval service (default $RAGPLANE_EVAL_ADDR or {DEFAULT_EVAL_ADDR})")
    run.add_argument("--api-key", default=None, help="API key (default $RAGPLANE_API_KEY or the local dev key)")
    run.add_argument("--timeout", type=float, default=24 * 3600.0, help="seconds the whole run may take")
    add_connection_args(run)
    run.set_defaults(func=_cmd_run)
    report = sub.add_parser("report", help="show the report of an earlier run")
    report.add_argument("run_id", metavar="RUN_ID")
    report.add_argument("--json", action="store_true")
    report.add_argument("--addr", default=None)
    report.add_argument("--api-key", default=None)
    add_connection_args(report)
    report.set_defaults(func=_cmd_report)
