"""Run reports on disk: ``<reports_dir>/<run_id>/report.json`` and ``rows.jsonl``, plus metric aggregation.

A report belongs to the tenant that started the run; another tenant asking for it gets NOT_FOUND, as if it did
not exist. Reports name files relative to the caller's folders (``<run_id>/rows.jsonl``, the dataset's name in
the tenant's folder), never by the server's paths.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.rpc import status_pb2

from ragplane.runtime.errors import InvalidArgument, NotFound
from ragplane.runtime.rpc_status import code_name, status_of, to_status
from ragplane_eval import scoring

RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")
MODES = ("dense", "sparse", "hybrid", "rerank")
ROWS_FILE = "rows.jsonl"
# Headline metrics that also get a 95% bootstrap interval (".ci95_low" / ".ci95_high").
WITH_INTERVALS = ("answer.exact_match", "answer.f1", *(f"retrieval.{m}.mrr@10" for m in MODES))


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


@dataclass
class Row:
    """One scored question (a rows.jsonl line; a QuestionResult on the wire)."""

    question_id: str
    question: str
    reference_answers: list[str]
    relevant_doc_ids: list[str]
    request_id: str = ""
    answer: str = ""
    blocked: bool = False
    retrieved: dict[str, list[str]] = field(default_factory=dict)
    cited_doc_ids: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    # Canonical gRPC code name of the first failed step; empty when none failed.
    error_code: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "question": self.question,
            "reference_answers": self.reference_answers,
            "relevant_doc_ids": self.relevant_doc_ids,
            "request_id": self.request_id,
            "answer": self.answer,
            "blocked": self.blocked,
            "retrieved": self.retrieved,
            "cited_doc_ids": self.cited_doc_ids,
            "metrics": self.metrics,
            "error": self.error,
            "error_code": self.error_code,
        }

    def error_status(self) -> status_pb2.Status | None:
        """The row's failure as a Status (the first failure's code, every failed step in the message); None if none."""
        if not self.error:
            return None
        return to_status(grpc.StatusCode[self.error_code or "UNKNOWN"], self.error)


@dataclass
class Failures:
    """The failed steps of one question: a message each, and the code of the first failure."""

    messages: list[str] = field(default_factory=list)
    code: str = ""

    def add(self, message: str, exc: BaseException) -> None:
        self.code = self.code or code_name(status_of(exc))
        self.messages.append(message)

    def record(self, row: Row) -> None:
        """Write the failures into the row."""
        row.error, row.error_code = "; ".join(self.messages), self.code


def metric_names(retrieval_only: bool) -> list[str]:
    """Every metric a report can hold (a metric nobody could compute is left out of a report)."""
    names = ["run.questions", "run.errors", "run.documents", "run.failed_documents"]
    for mode in MODES:
        names += [f"retrieval.{mode}.{metric}" for metric in scoring.RETRIEVAL_METRICS]
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


def aggregate(
    rows: Iterable[Row], *, retrieval_only: bool, documents: int, failed_documents: int, seed: int = 0
) -> dict[str, float]:
    """Summary metrics of a run, in ``metric_names`` order.

    Means over the rows that have the per-question value; latencies as percentiles; ask errors count as
    answers with EM and F1 of 0 (a failed answer is a wrong answer).
    """
    rows = list(rows)
    values: dict[str, list[float]] = {}
    for row in rows:
        for name, value in row.metrics.items():
            values.setdefault(name, []).append(value)
    summary: dict[str, float] = {
        "run.questions": float(len(rows)),
        "run.errors": float(sum(1 for row in rows if row.error)),
        "run.documents": float(documents),
        "run.failed_documents": float(failed_documents),
    }
    for name in metric_names(retrieval_only):
        if name in summary or name.endswith((".ci95_low", ".ci95_high")) or name.startswith("latency."):
            continue
        mean = scoring.mean(values.get(name, []))
        if mean is not None:
            summary[name] = mean
    for source, prefix in (("latency.retrieval_ms", "latency.retrieval"), ("latency.ask_ms", "latency")):
        if source == "latency.ask_ms" and retrieval_only:
            continue
        for q in (50, 95):
            value = scoring.percentile(values.get(source, []), q)
            if value is not None:
                summary[f"{prefix}.p{q}_ms"] = value
    for name in WITH_INTERVALS:
        interval = scoring.bootstrap_ci(values.get(name, []), seed=seed)
        if name in summary and interval is not None:
            summary[f"{name}.ci95_low"], summary[f"{name}.ci95_high"] = interval
    order = {name: index for index, name in enumerate(metric_names(retrieval_only))}
    return dict(sorted(summary.items(), key=lambda item: order.get(item[0], len(order))))


class ReportStore:
    """Reports and rows of runs under one folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def run_dir(self, run_id: str) -> Path:
        if not RUN_ID.match(run_id):
            raise InvalidArgument("run_id", f"must look like 20250101-120000-1a2b3c4d, but got {run_id!r}")
        return self.root / run_id

    def rows_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / ROWS_FILE

    @staticmethod
    def rows_name(run_id: str) -> str:
        """How reports name a run's rows file to clients: relative to the reports folder, not the server's path."""
        return f"{run_id}/{ROWS_FILE}"

    def open_rows(self, run_id: str):
        """A text file to append rows to (created with the run folder)."""
        path = self.rows_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", encoding="utf-8")

    def save(self, report: dict[str, Any]) -> Path:
        """Write ``report`` (which carries ``run_id``) atomically."""
        path = self.run_dir(report["run_id"]) / "report.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".json.part")
        partial.write_text(json.dumps(report, indent=2, sort_keys=False))
        os.replace(partial, path)
        return path

    def load(self, run_id: str, tenant: str) -> dict[str, Any]:
        """The report of ``run_id`` if ``tenant`` started it.

        Raises:
            InvalidArgument: run_id is malformed.
            NotFound: no such run for this tenant.
        """
        path = self.run_dir(run_id) / "report.json"
        try:
            report = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFound(f"no eval report {run_id!r}") from None
        if report.get("caller_tenant") != tenant:
            raise NotFound(f"no eval report {run_id!r}")
        return report
