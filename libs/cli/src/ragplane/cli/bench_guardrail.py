"""``ragplane bench guardrail``: detection and false-positive rates and latency of the guardrail checks.

Runs the labelled sets shipped in services/guardrail/datasets through the real checks, twice: in-process
(the engine the service runs) and through the real gRPC server on loopback. Reports per check and split:
detection rate (recall), false-positive rate, precision, and p50/p95/p99 latency; per detector the latency
on the input set; for output, the PII leak rate after redaction and the grounding flag rates.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragplane.cli.cmd_bench import add_common_arguments, save_results
from ragplane.cli.output import console, print_json, print_table

INJECTION_CATEGORIES = {"prompt_injection", "jailbreak"}
DOCUMENT_STYLES = {"indirect", "document"}
KEY = "bench-key"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("guardrail", help="guardrail detection rates and latency on the labelled sets",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=None,
                        help="folder with the JSONL sets (default: services/guardrail/datasets)")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the sets for latency samples")
    parser.add_argument("--no-grpc", action="store_true", help="in-process only (skip the loopback server)")
    parser.add_argument("--no-presidio-gate", action="store_true",
                        help="run Presidio NER on every text (to measure what the gate saves)")
    parser.add_argument("--no-embedding-classifier", action="store_true",
                        help="leave the embedding injection classifier out")
    parser.add_argument("--no-semantic-grounding", action="store_true",
                        help="lexical grounding only (no encoder call in CheckOutput)")
    parser.add_argument("--no-classifier-gate", action="store_true",
                        help="run the embedding classifier on every text (to measure what its gate saves)")
    add_common_arguments(parser)
    parser.set_defaults(func=run)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean of latency samples in milliseconds (nearest-rank)."""
    if not samples_ms:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "mean": 0.0, "n": 0}
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]

    return {"p50": round(rank(0.50), 2), "p95": round(rank(0.95), 2), "p99": round(rank(0.99), 2),
            "mean": round(statistics.fmean(ordered), 2), "n": len(ordered)}


def rates(outcomes: list[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """Detection rate (recall), false-positive rate and precision from (is_positive, flagged) pairs."""
    tp = sum(1 for positive, flagged in outcomes if positive and flagged)
    fn = sum(1 for positive, flagged in outcomes if positive and not flagged)
    fp = sum(1 for positive, flagged in outcomes if not positive and flagged)
    tn = sum(1 for positive, flagged in outcomes if not positive and not flagged)
    return {
        "positives": tp + fn, "negatives": fp + tn, "tp": tp, "fn": fn, "fp": fp, "tn": tn,
        "detection_rate": round(tp / (tp + fn), 4) if tp + fn else None,
        "false_positive_rate": round(fp / (fp + tn), 4) if fp + tn else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
    }


CPU_MS: dict[str, list[float]] = {}


def _timed(function: Callable[[], Any], *cpu_keys: str) -> tuple[Any, float]:
    """Run ``function``; return its result and wall milliseconds (CPU milliseconds go to ``CPU_MS[key]``).

    CPU time of the whole process (all threads, so torch's intra-op threads count) is the service demand of
    a check: on a shared machine it is what the wall time would be without other processes competing.
    """
    cpu_started = time.process_time()
    started = time.perf_counter()
    result = function()
    elapsed = (time.perf_counter() - started) * 1000.0
    for key in cpu_keys:
        CPU_MS.setdefault(key, []).append((time.process_time() - cpu_started) * 1000.0)
    return result, elapsed


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    import grpc

    from ragplane.runtime.server import start_service
    from ragplane.runtime.settings import load_settings
    from ragplane.v1 import common_pb2, guardrail_pb2, guardrail_pb2_grpc
    from ragplane_guardrail import datasets
    from ragplane_guardrail.config import Settings
    from ragplane_guardrail.app import GuardrailApp
    from ragplane_guardrail.text import Text
    from ragplane_guardrail.verdict import Action, Check, DocumentChunk, Passage

    directory = args.datasets or datasets.default_directory()
    overrides: dict[str, Any] = {"api_keys": f"{KEY}=bench"}
    if args.no_presidio_gate:
        overrides["presidio_gate"] = False
    if args.no_embedding_classifier:
        overrides["embedding_classifier"] = False
    if args.no_classifier_gate:
        overrides["classifier_gate"] = False
    if args.no_semantic_grounding:
        overrides["semantic_grounding"] = False
    settings = load_settings(Settings, **overrides)
    # Blocked verdicts are logged one line each; the table is what this command is for.
    logging.getLogger("ragplane_guardrail.engine").setLevel(logging.ERROR)
    app = GuardrailApp(settings)
    with console.status("loading models and starting the guardrail server on loopback"):
        started = time.perf_counter()
        running = await start_service(app, settings, port=0, metrics=False)
        load_s = time.perf_counter() - started
    engine = app.engine
    policy = engine.policy_for("bench")
    attacks = datasets.load_injection_sets(directory)
    pii = datasets.load_pii_set(directory)
    grounding = [__import__("json").loads(line) for line in (directory / "grounding.jsonl").read_text().splitlines()
                 if line.strip()]

    def flagged_injection(verdict) -> bool:
        return any(f.category in INJECTION_CATEGORIES and f.action in (Action.BLOCK, Action.MARK) for f in verdict.findings)

    # Warm-up so first-call costs (lazy imports, allocator) do not land in the samples.
    for example in attacks[:5]:
        engine.check_input(example.text, policy)

    results: dict[str, Any] = {"load_s": round(load_s, 2), "settings": {
        "presidio_gate": settings.presidio_gate, "embedding_classifier": settings.embedding_classifier,
        "classifier_gate": settings.classifier_gate, "torch_threads": settings.torch_threads,
        "tfidf_classifier": settings.tfidf_classifier, "semantic_grounding": settings.semantic_grounding},
        "checks": {}}
    misses: dict[str, list[str]] = {}
    with console.status("running the sets in-process"):
        # CheckInput on injections and look-alikes, per split.
        latency_input: list[float] = []
        latency_plain: list[float] = []
        plain_outcomes: list[tuple[bool, bool]] = []
        outcomes: dict[str, list[tuple[bool, bool]]] = {}
        for _ in range(max(1, args.repeat)):
            for example in attacks:
                keys = ("input", "input_plain") if example.style == "everyday" else ("input",)
                verdict, elapsed = _timed(lambda e=example: engine.check_input(e.text, policy), *keys)
                latency_input.append(elapsed)
                hit = flagged_injection(verdict) and verdict.action == Action.BLOCK
                if example.style == "everyday":
                    latency_plain.append(elapsed)
                    plain_outcomes.append((False, hit))
                outcomes.setdefault(example.split, []).append((example.is_attack, hit))
                if _ == 0 and hit != example.is_attack:
                    misses.setdefault("input", []).append(f"{'FN' if example.is_attack else 'FP'} {example.id}")
        # CheckInput on PII: span recall per category, clean-text false positives.
        latency_pii: list[float] = []
        span_hits: dict[str, list[bool]] = {}
        clean_outcomes: list[tuple[bool, bool]] = []
        for example in pii:
            verdict, elapsed = _timed(lambda e=example: engine.check_input(e.text, policy), "input_pii")
            latency_pii.append(elapsed)
            acted = [f for f in verdict.findings if f.category.startswith("pii.") or f.category == "secret"]
            for span in example.spans:
                span_hits.setdefault(span.category, []).append(
                    any(f.category == span.category and f.start < span.end and span.start < f.end for f in acted))
            clean_outcomes.append((example.label == "pii", bool(acted)))
        # ScanDocument on document-style texts.
        latency_doc: list[float] = []
        doc_outcomes: dict[str, list[tuple[bool, bool]]] = {}
        for example in (e for e in attacks if e.style in DOCUMENT_STYLES):
            chunk_verdicts, elapsed = _timed(lambda e=example: engine.scan_document([DocumentChunk(0, e.text)], policy),
                                             "document")
            latency_doc.append(elapsed)
            doc_outcomes.setdefault(example.split, []).append((example.is_attack, flagged_injection(chunk_verdicts[0].verdict)))
        # CheckOutput: PII leak after redaction, grounding flags.
        latency_out: list[float] = []
        leaked, marked, total_spans = [], 0, 0
        for example in (e for e in pii if e.label == "pii"):
            result, elapsed = _timed(lambda e=example: engine.check_output(e.text, [], [], policy), "output_pii")
            latency_out.append(elapsed)
            shown = result.verdict.redacted_text if result.verdict.action == Action.REDACT else example.text
            for span in example.spans:
                # Only what the policy redacts or blocks can leak; marked categories (names) are shown on purpose.
                if policy.output.rule_for(span.category).action not in (Action.REDACT, Action.BLOCK):
                    marked += 1
                    continue
                total_spans += 1
                if example.text[span.start:span.end] in shown:
                    leaked.append(f"{example.id}:{span.category}")
        ground_outcomes: list[tuple[bool, bool]] = []
        latency_ground: list[float] = []
        for item in grounding:
            answer = " ".join(s["text"] for s in item["sentences"])
            passages = [Passage(i + 1, text) for i, text in enumerate(item["context"])]
            result, elapsed = _timed(lambda a=answer, p=passages: engine.check_output(a, p, [], policy), "output_grounding")
            latency_ground.append(elapsed)
            flagged_texts = {u.text for u in result.unsupported}
            for sentence in item["sentences"]:
                ground_outcomes.append((not sentence["supported"], sentence["text"] in flagged_texts))
        # Per-detector latency on the input sets.
        detector_latency: dict[str, list[float]] = {}
        for detector in engine.detectors_for(Check.INPUT, policy):
            for example in attacks + pii:
                text = Text(example.text)
                _, elapsed = _timed(lambda d=detector, t=text: d.detect(t))
                detector_latency.setdefault(detector.name, []).append(elapsed)

    checks = results["checks"]
    for split, pairs in sorted(outcomes.items()):
        checks[f"input/injection/{split}"] = {**rates(pairs), "latency_ms": percentiles(latency_input)}
    checks["input/injection/all"] = {**rates([p for pairs in outcomes.values() for p in pairs]),
                                     "latency_ms": percentiles(latency_input)}
    # Ordinary questions (the bulk of real traffic): the latency an ordinary user sees.
    checks["input/plain_questions"] = {**rates(plain_outcomes), "latency_ms": percentiles(latency_plain)}
    checks["input/pii"] = {**rates(clean_outcomes), "latency_ms": percentiles(latency_pii),
                           "span_recall": {category: round(sum(hits) / len(hits), 4)
                                           for category, hits in sorted(span_hits.items())},
                           "allowed_by_policy": sorted(c for c in span_hits
                                                       if policy.input.rule_for(c).action == Action.ALLOW)}
    for split, pairs in sorted(doc_outcomes.items()):
        checks[f"document/indirect_injection/{split}"] = {**rates(pairs), "latency_ms": percentiles(latency_doc)}
    checks["output/pii_redaction"] = {"spans": total_spans, "leaked": len(leaked), "not_redacted_by_policy": marked,
                                      "leak_rate": round(len(leaked) / max(total_spans, 1), 4), "leaked_spans": leaked,
                                      "latency_ms": percentiles(latency_out)}
    checks["output/grounding"] = {**rates(ground_outcomes), "latency_ms": percentiles(latency_ground)}
    results["detectors_ms"] = {name: percentiles(samples) for name, samples in detector_latency.items()}
    results["cpu_ms"] = {key: percentiles(samples) for key, samples in CPU_MS.items()}
    results["load_average"] = list(__import__("os").getloadavg())
    results["errors"] = misses

    if not args.no_grpc:
        with console.status("running the sets through gRPC on loopback"):
            results["grpc_ms"] = await _grpc_latencies(running.address, attacks, pii, grounding, max(1, args.repeat),
                                                       grpc, common_pb2, guardrail_pb2, guardrail_pb2_grpc)
    await running.stop(0)
    path = save_results("guardrail", results, args.out)
    if args.json:
        print_json(results)
    else:
        _print(results)
        console.print(f"saved {path}")
    return 0


async def _grpc_latencies(address: str, attacks, pii, grounding, repeat: int, grpc, common_pb2, guardrail_pb2,
                          guardrail_pb2_grpc) -> dict[str, Any]:
    metadata = [("authorization", f"Bearer {KEY}")]
    samples: dict[str, list[float]] = {"input": [], "output": [], "document": []}
    async with grpc.aio.insecure_channel(address) as channel:
        stub = guardrail_pb2_grpc.GuardrailServiceStub(channel)
        for example in attacks[:5]:
            await stub.CheckInput(guardrail_pb2.CheckInputRequest(text=example.text), metadata=metadata)
        for _ in range(repeat):
            for example in attacks + pii:
                started = time.perf_counter()
                await stub.CheckInput(guardrail_pb2.CheckInputRequest(text=example.text), metadata=metadata, timeout=30)
                samples["input"].append((time.perf_counter() - started) * 1000.0)
            for example in (e for e in attacks if e.style in DOCUMENT_STYLES):
                started = time.perf_counter()
                await stub.ScanDocument(guardrail_pb2.ScanDocumentRequest(
                    doc_id=example.id, chunks=[common_pb2.Chunk(text=example.text)]), metadata=metadata, timeout=30)
                samples["document"].append((time.perf_counter() - started) * 1000.0)
            for item in grounding:
                request = guardrail_pb2.CheckOutputRequest(
                    answer=" ".join(s["text"] for s in item["sentences"]),
                    context=[common_pb2.Chunk(text=text) for text in item["context"]])
                started = time.perf_counter()
                await stub.CheckOutput(request, metadata=metadata, timeout=30)
                samples["output"].append((time.perf_counter() - started) * 1000.0)
    return {check: percentiles(values) for check, values in samples.items()}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if value <= 1 else f"{value:.1f}"
    return str(value)


def _print(results: dict[str, Any]) -> None:
    rows = []
    cpu = results.get("cpu_ms", {})
    cpu_key = {"input": "input", "document": "document", "output/pii_redaction": "output_pii",
               "output/grounding": "output_grounding"}
    for name, row in results["checks"].items():
        latency = row["latency_ms"]
        check, _, rest = name.partition("/")
        key = {"input/pii": "input_pii", "input/plain_questions": "input_plain"}.get(
            name, cpu_key.get(name if name.startswith("output") else check, check))
        cpu_p95 = cpu.get(key, {}).get("p95", "-")
        if "leak_rate" in row:
            rows.append((check, rest, row["spans"], f"leak {row['leak_rate']:.3f}", "-", "-", latency["p50"],
                         latency["p95"], cpu_p95))
            continue
        rows.append((check, rest, f"{row['positives']}/{row['negatives']}", _fmt(row["detection_rate"]),
                     _fmt(row["false_positive_rate"]), _fmt(row["precision"]), latency["p50"], latency["p95"], cpu_p95))
    print_table(f"guardrail checks in-process (models loaded in {results['load_s']} s; "
                f"load average {results['load_average'][0]:.1f})",
                ["check", "set/split", "n +/-", "detect", "FPR", "prec", "p50", "p95", "cpu p95"], rows)
    pii = results["checks"]["input/pii"]
    print_table("PII span recall (CheckInput, default policy)", ["category", "recall", "note"],
                [(c, _fmt(r), "allowed by policy" if c in pii["allowed_by_policy"] else "")
                 for c, r in pii["span_recall"].items()])
    print_table("detector latency on the input sets (ms)", ["detector", "p50", "p95", "p99"],
                [(name, v["p50"], v["p95"], v["p99"]) for name, v in results["detectors_ms"].items()])
    if "grpc_ms" in results:
        print_table("through gRPC on loopback (client round trip, ms)", ["check", "n", "p50", "p95", "p99"],
                    [(check, v["n"], v["p50"], v["p95"], v["p99"]) for check, v in results["grpc_ms"].items()])
