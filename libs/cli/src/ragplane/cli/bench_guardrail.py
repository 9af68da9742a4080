"""``ragplane bench guardrail``: detection and false-positive rates and latency of the guardrail checks.

Runs the labelled sets shipped in services/guardrail/datasets through the real checks, twice: in-process
(the engine the service runs) and through the real gRPC server on loopback. Reports per check and split:
detection rate (recall), false-positive rate, precision, and p50/p95 latency; per detector the latency
on the input set; for output, the PII leak rate after redaction and the grounding flag rates. The
measurement is ``ragplane_guardrail.bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from ragplane.cli.cmd_bench import service_module
from ragplane.cli.output import console
from ragplane.runtime.bench import BenchResult

HELP = "guardrail detection rates and latency on the labelled sets"
CHECK_COLUMNS = ["set_split", "n_pos_neg", "detect", "fpr", "precision", "p50_ms", "p95_ms", "cpu_p95_ms"]
LATENCY_COLUMNS = ["n", "p50_ms", "p95_ms", "p99_ms"]
# Which CPU samples belong to which check (the checks' names are finer than the samples' keys).
_CPU_KEY = {
    "input/pii": "input_pii",
    "input/plain_questions": "input_plain",
    "output/pii_redaction": "output_pii",
    "output/grounding": "output_grounding",
}
_FLAGS = {
    "no_presidio_gate": "presidio_gate",
    "no_embedding_classifier": "embedding_classifier",
    "no_classifier_gate": "classifier_gate",
    "no_semantic_grounding": "semantic_grounding",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The guardrail benchmark's flags."""
    parser.add_argument(
        "--datasets", type=Path, default=None, help="folder with the JSONL sets (default: services/guardrail/datasets)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="passes over the sets for latency samples")
    parser.add_argument("--no-grpc", action="store_true", help="in-process only (skip the loopback server)")
    parser.add_argument(
        "--no-presidio-gate",
        action="store_true",
        help="run Presidio NER on every text (to measure what the gate saves)",
    )
    parser.add_argument(
        "--no-embedding-classifier", action="store_true", help="leave the embedding injection classifier out"
    )
    parser.add_argument(
        "--no-semantic-grounding", action="store_true", help="lexical grounding only (no encoder call in CheckOutput)"
    )
    parser.add_argument(
        "--no-classifier-gate",
        action="store_true",
        help="run the embedding classifier on every text (to measure what its gate saves)",
    )


def _check_row(name: str, row: dict[str, Any], cpu: dict[str, Any]) -> dict[str, Any]:
    check, _, rest = name.partition("/")
    cpu_p95 = cpu.get(_CPU_KEY.get(name, check), {}).get("p95_ms")
    latency = row["latency_ms"]
    common = {"set_split": rest, "p50_ms": latency["p50_ms"], "p95_ms": latency["p95_ms"], "cpu_p95_ms": cpu_p95}
    if "leak_rate" in row:
        return {**common, "n_pos_neg": row["spans"], "detect": f"leak {row['leak_rate']:.3f}"}
    return {
        **common,
        "n_pos_neg": f"{row['positives']}/{row['negatives']}",
        "detect": row["detection_rate"],
        "fpr": row["false_positive_rate"],
        "precision": row["precision"],
    }


def _latency_result(variant: str, title: str, by_name: dict[str, Any]) -> BenchResult:
    result = BenchResult("guardrail", LATENCY_COLUMNS, variant=variant, title=title)
    for name, summary in by_name.items():
        result.add(name, {column: summary[column] for column in LATENCY_COLUMNS})
    return result


def run(args: argparse.Namespace) -> list[BenchResult]:
    """Tables: the checks in process, PII span recall, detector latency, and (unless --no-grpc) the RPCs."""
    bench = service_module("ragplane_guardrail.bench")
    overrides = {setting: False for flag, setting in _FLAGS.items() if getattr(args, flag)}
    with console.status("loading models, running the sets in process and through gRPC on loopback"):
        results = asyncio.run(bench.measure(overrides, args.datasets, args.repeat, grpc=not args.no_grpc))
    results["load_average"] = list(os.getloadavg())
    checks = BenchResult(
        "guardrail",
        CHECK_COLUMNS,
        details=results,
        title=f"guardrail checks in-process (models loaded in {results['load_s']} s; "
        f"load average {results['load_average'][0]:.1f})",
    )
    for name, row in results["checks"].items():
        checks.add(name.partition("/")[0], _check_row(name, row, results["cpu_ms"]))
    pii = results["checks"]["input/pii"]
    recall = BenchResult(
        "guardrail", ["recall", "note"], variant="pii-recall", title="PII span recall (CheckInput, default policy)"
    )
    for category, value in pii["span_recall"].items():
        recall.add(
            category, {"recall": value, "note": "allowed by policy" if category in pii["allowed_by_policy"] else ""}
        )
    out = [
        checks,
        recall,
        _latency_result("detectors", "detector latency on the input sets (ms)", results["detectors_ms"]),
    ]
    if "grpc_ms" in results:
        out.append(_latency_result("grpc", "through gRPC on loopback (client round trip, ms)", results["grpc_ms"]))
    return out
