"""Detection and false-positive rates and latency of the guardrail checks on the labelled sets.

Runs the labelled sets shipped in services/guardrail/datasets through the real checks, twice: in-process
(the engine the service runs) and through the real gRPC server on loopback. Per check and split: detection
rate (recall), false-positive rate, precision, and latency (``ragplane.runtime.bench.latency_summary``); per
detector the latency on the input sets; for output, the PII leak rate after redaction and the grounding flag
rates. CPU time of the whole process per check is kept too: on a shared machine it is the service demand.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragplane.runtime.bench import Timer, latency_summary
from ragplane_guardrail import datasets
from ragplane_guardrail.verdict import Action, Check, DocumentChunk, Passage

INJECTION_CATEGORIES = {"prompt_injection", "jailbreak"}
DOCUMENT_STYLES = {"indirect", "document"}
KEY = "bench-key"


def rates(outcomes: list[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """Detection rate (recall), false-positive rate and precision from (is_positive, flagged) pairs."""
    tp = sum(1 for positive, flagged in outcomes if positive and flagged)
    fn = sum(1 for positive, flagged in outcomes if positive and not flagged)
    fp = sum(1 for positive, flagged in outcomes if not positive and flagged)
    tn = sum(1 for positive, flagged in outcomes if not positive and not flagged)
    return {
        "positives": tp + fn,
        "negatives": fp + tn,
        "tp": tp,
        "fn": fn,
        "fp": fp,
        "tn": tn,
        "detection_rate": round(tp / (tp + fn), 4) if tp + fn else None,
        "false_positive_rate": round(fp / (fp + tn), 4) if fp + tn else None,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
    }


def flagged_injection(verdict: Any) -> bool:
    """Whether ``verdict`` blocks or marks an injection or jailbreak finding."""
    return any(f.category in INJECTION_CATEGORIES and f.action in (Action.BLOCK, Action.MARK) for f in verdict.findings)


class Sets:
    """The labelled sets of one folder: injections and look-alikes, PII, grounding."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or datasets.default_directory()
        self.attacks = datasets.load_injection_sets(directory)
        self.pii = datasets.load_pii_set(directory)
        self.grounding = [
            json.loads(line) for line in (directory / "grounding.jsonl").read_text().splitlines() if line.strip()
        ]

    @property
    def documents(self) -> list[Any]:
        """The document-style injection examples (what ScanDocument sees)."""
        return [e for e in self.attacks if e.style in DOCUMENT_STYLES]


class _Samples:
    """Wall and CPU milliseconds per key."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def timed(self, function: Callable[[], Any], *keys: str) -> Any:
        with Timer() as timer:
            result = function()
        for key in keys:
            self.wall.setdefault(key, []).append(timer.wall_ms)
            self.cpu.setdefault(key, []).append(timer.cpu_ms)
        return result


def _input_checks(
    engine: Any,
    policy: Any,
    sets: Sets,
    samples: _Samples,
    repeat: int,
    checks: dict[str, Any],
    misses: dict[str, list[str]],
) -> None:
    """CheckInput on injections and look-alikes per split, and on ordinary questions."""
    outcomes: dict[str, list[tuple[bool, bool]]] = {}
    plain: list[tuple[bool, bool]] = []
    for pass_index in range(max(1, repeat)):
        for example in sets.attacks:
            keys = ("input", "input_plain") if example.style == "everyday" else ("input",)
            verdict = samples.timed(lambda e=example: engine.check_input(e.text, policy), *keys)
            hit = flagged_injection(verdict) and verdict.action == Action.BLOCK
            if example.style == "everyday":
                plain.append((False, hit))
            outcomes.setdefault(example.split, []).append((example.is_attack, hit))
            if pass_index == 0 and hit != example.is_attack:
                misses.setdefault("input", []).append(f"{'FN' if example.is_attack else 'FP'} {example.id}")
    latency = latency_summary(samples.wall["input"])
    for split, pairs in sorted(outcomes.items()):
        checks[f"input/injection/{split}"] = {**rates(pairs), "latency_ms": latency}
    checks["input/injection/all"] = {**rates([p for pairs in outcomes.values() for p in pairs]), "latency_ms": latency}
    # Ordinary questions (the bulk of real traffic): the latency an ordinary user sees.
    checks["input/plain_questions"] = {
        **rates(plain),
        "latency_ms": latency_summary(samples.wall.get("input_plain", [])),
    }


def _pii_input(engine: Any, policy: Any, sets: Sets, samples: _Samples, checks: dict[str, Any]) -> None:
    """CheckInput on PII: span recall per category, clean-text false positives."""
    span_hits: dict[str, list[bool]] = {}
    clean: list[tuple[bool, bool]] = []
    for example in sets.pii:
        verdict = samples.timed(lambda e=example: engine.check_input(e.text, policy), "input_pii")
        acted = [f for f in verdict.findings if f.category.startswith("pii.") or f.category == "secret"]
        for span in example.spans:
            span_hits.setdefault(span.category, []).append(
                any(f.category == span.category and f.start < span.end and span.start < f.end for f in acted)
            )
        clean.append((example.label == "pii", bool(acted)))
    checks["input/pii"] = {
        **rates(clean),
        "latency_ms": latency_summary(samples.wall.get("input_pii", [])),
        "span_recall": {category: round(sum(hits) / len(hits), 4) for category, hits in sorted(span_hits.items())},
        "allowed_by_policy": sorted(c for c in span_hits if policy.input.rule_for(c).action == Action.ALLOW),
    }


def _documents(engine: Any, policy: Any, sets: Sets, samples: _Samples, checks: dict[str, Any]) -> None:
    """ScanDocument on document-style texts, per split."""
    outcomes: dict[str, list[tuple[bool, bool]]] = {}
    for example in sets.documents:
        verdicts = samples.timed(lambda e=example: engine.scan_document([DocumentChunk(0, e.text)], policy), "document")
        outcomes.setdefault(example.split, []).append((example.is_attack, flagged_injection(verdicts[0].verdict)))
    for split, pairs in sorted(outcomes.items()):
        checks[f"document/indirect_injection/{split}"] = {
            **rates(pairs),
            "latency_ms": latency_summary(samples.wall["document"]),
        }


def _output_pii(engine: Any, policy: Any, sets: Sets, samples: _Samples, checks: dict[str, Any]) -> None:
    """CheckOutput on PII texts: what leaks after redaction."""
    leaked, marked, total_spans = [], 0, 0
    for example in (e for e in sets.pii if e.label == "pii"):
        result = samples.timed(lambda e=example: engine.check_output(e.text, [], [], policy), "output_pii")
        shown = result.verdict.redacted_text if result.verdict.action == Action.REDACT else example.text
        for span in example.spans:
            # Only what the policy redacts or blocks can leak; marked categories (names) are shown on purpose.
            if policy.output.rule_for(span.category).action not in (Action.REDACT, Action.BLOCK):
                marked += 1
                continue
            total_spans += 1
            if example.text[span.start : span.end] in shown:
                leaked.append(f"{example.id}:{span.category}")
    checks["output/pii_redaction"] = {
        "spans": total_spans,
        "leaked": len(leaked),
        "not_redacted_by_policy": marked,
        "leak_rate": round(len(leaked) / max(total_spans, 1), 4),
        "leaked_spans": leaked,
        "latency_ms": latency_summary(samples.wall.get("output_pii", [])),
    }


def _grounding(engine: Any, policy: Any, sets: Sets, samples: _Samples, checks: dict[str, Any]) -> None:
    """CheckOutput grounding: unsupported sentences flagged."""
    outcomes: list[tuple[bool, bool]] = []
    for item in sets.grounding:
        answer = " ".join(s["text"] for s in item["sentences"])
        passages = [Passage(i + 1, text) for i, text in enumerate(item["context"])]
        result = samples.timed(lambda a=answer, p=passages: engine.check_output(a, p, [], policy), "output_grounding")
        flagged_texts = {u.text for u in result.unsupported}
        for sentence in item["sentences"]:
            outcomes.append((not sentence["supported"], sentence["text"] in flagged_texts))
    checks["output/grounding"] = {
        **rates(outcomes),
        "latency_ms": latency_summary(samples.wall.get("output_grounding", [])),
    }


def _detectors(engine: Any, policy: Any, sets: Sets) -> dict[str, Any]:
    """Latency of each input detector alone on the input sets."""
    from ragplane_guardrail.text import Text

    samples = _Samples()
    for detector in engine.detectors_for(Check.INPUT, policy):
        for example in sets.attacks + sets.pii:
            text = Text(example.text)
            samples.timed(lambda d=detector, t=text: d.detect(t), detector.name)
    return {name: latency_summary(values) for name, values in samples.wall.items()}


def in_process(engine: Any, sets: Sets, repeat: int = 1) -> dict[str, Any]:
    """Every set through the engine in process: rates and latency per check, detector and CPU latency.

    Args:
        engine: a warmed-up guardrail engine.
        sets: the labelled sets.
        repeat: passes over the injection sets (more latency samples).

    Returns:
        ``{"checks", "detectors_ms", "cpu_ms", "errors"}``.
    """
    policy = engine.policy_for("bench")
    # Warm-up so first-call costs (lazy imports, allocator) do not land in the samples.
    for example in sets.attacks[:5]:
        engine.check_input(example.text, policy)
    samples = _Samples()
    checks: dict[str, Any] = {}
    misses: dict[str, list[str]] = {}
    _input_checks(engine, policy, sets, samples, repeat, checks, misses)
    _pii_input(engine, policy, sets, samples, checks)
    _documents(engine, policy, sets, samples, checks)
    _output_pii(engine, policy, sets, samples, checks)
    _grounding(engine, policy, sets, samples, checks)
    return {
        "checks": checks,
        "detectors_ms": _detectors(engine, policy, sets),
        "cpu_ms": {key: latency_summary(values) for key, values in samples.cpu.items()},
        "errors": misses,
    }


async def through_grpc(address: str, sets: Sets, repeat: int = 1) -> dict[str, Any]:
    """Client round-trip latency of CheckInput, ScanDocument and CheckOutput on the sets, per RPC."""
    import grpc

    from ragplane.v1 import common_pb2, guardrail_pb2, guardrail_pb2_grpc

    metadata = [("authorization", f"Bearer {KEY}")]
    samples: dict[str, list[float]] = {"input": [], "output": [], "document": []}

    async def timed(check: str, call: Any) -> None:
        with Timer() as timer:
            await call
        samples[check].append(timer.wall_ms)

    async with grpc.aio.insecure_channel(address) as channel:
        stub = guardrail_pb2_grpc.GuardrailServiceStub(channel)
        for example in sets.attacks[:5]:
            await stub.CheckInput(guardrail_pb2.CheckInputRequest(text=example.text), metadata=metadata)
        for _ in range(max(1, repeat)):
            for example in sets.attacks + sets.pii:
                await timed(
                    "input",
                    stub.CheckInput(guardrail_pb2.CheckInputRequest(text=example.text), metadata=metadata, timeout=30),
                )
            for example in sets.documents:
                await timed(
                    "document",
                    stub.ScanDocument(
                        guardrail_pb2.ScanDocumentRequest(
                            doc_id=example.id, chunks=[common_pb2.Chunk(text=example.text)]
                        ),
                        metadata=metadata,
                        timeout=30,
                    ),
                )
            for item in sets.grounding:
                request = guardrail_pb2.CheckOutputRequest(
                    answer=" ".join(s["text"] for s in item["sentences"]),
                    context=[common_pb2.Chunk(text=text) for text in item["context"]],
                )
                await timed("output", stub.CheckOutput(request, metadata=metadata, timeout=30))
    return {check: latency_summary(values) for check, values in samples.items()}


async def measure(
    overrides: dict[str, Any], directory: Path | None = None, repeat: int = 1, grpc: bool = True
) -> dict[str, Any]:
    """Start the guardrail service on loopback with ``overrides``, run the sets in process and through gRPC.

    Returns:
        ``{"load_s", "settings", "checks", "detectors_ms", "cpu_ms", "errors"}`` plus ``"grpc_ms"`` with ``grpc``.
    """
    from ragplane.runtime.server import start_service
    from ragplane.runtime.settings import load_settings
    from ragplane_guardrail.app import GuardrailApp
    from ragplane_guardrail.config import Settings

    settings = load_settings(Settings, **{"api_keys": f"{KEY}=bench", "allow_dev_key": True, **overrides})
    # Blocked verdicts are logged one line each; the figures are what the benchmark is for. The level is put back
    # afterwards: the caller's process (a test run, a notebook) keeps its own logging.
    engine_log = logging.getLogger("ragplane_guardrail.engine")
    level = engine_log.level
    engine_log.setLevel(logging.ERROR)
    app = GuardrailApp(settings)
    started = time.perf_counter()
    running = await start_service(app, settings, port=0, metrics=False)
    results: dict[str, Any] = {
        "load_s": round(time.perf_counter() - started, 2),
        "settings": {
            name: getattr(settings, name)
            for name in (
                "presidio_gate",
                "embedding_classifier",
                "classifier_gate",
                "torch_threads",
                "tfidf_classifier",
                "semantic_grounding",
            )
        },
    }
    try:
        sets = Sets(directory)
        results.update(in_process(app.engine, sets, repeat))
        if grpc:
            results["grpc_ms"] = await through_grpc(running.address, sets, repeat)
    finally:
        await running.stop(0)
        engine_log.setLevel(level)
    return results


# --- hostile inputs: worst-case time and memory of the views, rules, detectors and checks ------------------------
#
# ``python -m ragplane_guardrail.bench TARGET SHAPE SIZE REPEAT`` measures one case in a fresh process and prints
# its figures as JSON lines (``ragplane.runtime.bench.report_case``); ``ragplane bench hostile`` runs every
# case under a timeout. The model detectors (embedding classifier, Presidio NER, semantic grounding) are left out:
# loading them would dominate a fresh process per case, and their input is bounded by their own windows.

# The most hostile first: ``ragplane bench hostile --shapes N`` keeps the first N.
HOSTILE_SHAPES: dict[str, Callable[[int], str]] = {
    "spaced-letters": lambda size: "i g n o r e " * (size // 12),
    "split-control-tokens": lambda size: "<|im_\u200bend|> </USER\u200b_INPUT> " * (size // 30),
    # One control token split behind size/5 nested lookalikes: peeling it is one pass at any depth.
    "nested-control-tokens": lambda size: "<|im_" + "<|a" * (size // 5) + "<|b|>" + "|>" * (size // 5) + "end|>",
    "homoglyph-words": lambda size: "іgnоrе рrеvіоus " * (size // 16),
    "role-lines": lambda size: "\nsystem:" * (size // 8),
    "tag-chars": lambda size: "".join(chr(0xE0041 + i % 26) for i in range(size // 4)),
    "whitespace-runs": lambda size: "a" + (" " * 4095 + "\n") * (size // 4096) + "a",
    "huge-word": lambda size: "a" * size,
    "digit-run": lambda size: "7" * size,
    "many-sentences": lambda size: "A b. " * (size // 5),
}
HOSTILE_VIEWS = ("view.normalised", "view.deobfuscated")
HOSTILE_CHECKS = ("CheckInput", "ScanDocument", "CheckOutput")


@functools.cache
def hostile_engine() -> tuple[Any, Any]:
    """The engine without model detectors, loaded, and a policy whose length limits let any input through.

    The limits are lifted so every detector sees the whole text: what it costs when a deployment raises them.
    """
    from dataclasses import replace

    from ragplane.runtime.settings import load_settings
    from ragplane_guardrail.app import GuardrailApp
    from ragplane_guardrail.config import Settings

    logging.getLogger("ragplane_guardrail.engine").setLevel(logging.ERROR)
    settings = load_settings(
        Settings, api_keys=f"{KEY}=bench", embedding_classifier=False, presidio=False, semantic_grounding=False
    )
    app = GuardrailApp(settings)
    app.load_models()
    policy = app.engine.policy_for("bench")
    unlimited = {name: replace(getattr(policy, name), max_chars=1 << 40) for name in ("input", "output", "document")}
    return app.engine, replace(policy, **unlimited)


def hostile_targets() -> list[str]:
    """The views, the detectors CheckInput runs without models, and the three checks."""
    from ragplane_guardrail.detectors.injection_classifier import TfidfClassifier
    from ragplane_guardrail.detectors.injection_rules import InjectionRules
    from ragplane_guardrail.detectors.pii_patterns import PiiPatterns
    from ragplane_guardrail.detectors.toxicity import Toxicity

    detectors = [cls.name for cls in (InjectionRules, TfidfClassifier, PiiPatterns, Toxicity)]
    return [*HOSTILE_VIEWS, *(f"detector.{name}" for name in detectors), *HOSTILE_CHECKS]


def hostile_cases() -> list[tuple[str, str]]:
    """Every ``(target, shape)`` pair."""
    return [(target, shape) for target in hostile_targets() for shape in HOSTILE_SHAPES]


def hostile_case(target: str, shape: str, size: int) -> Callable[[], object]:
    """The call to measure for ``target`` on a ``shape`` text of ``size`` characters (building it is not timed)."""
    from ragplane_guardrail.text import Text

    text = HOSTILE_SHAPES[shape](size)
    if target in HOSTILE_VIEWS:
        view = target.partition(".")[2]
        return lambda: getattr(Text(text), view)
    # Views need no engine: loading its classifier would only slow every fresh process down.
    engine, policy = hostile_engine()
    if target.startswith("detector."):
        name = target.partition(".")[2]
        detector = next(d for d in engine.detectors_for(Check.INPUT, policy) if d.name == name)
        # The views are shared by all detectors of a check: built here, so the figure is the detector's own.
        prepared = Text(text)
        _ = prepared.normalised, prepared.deobfuscated
        return lambda: detector.detect(prepared)
    if target == "CheckInput":
        return lambda: engine.check_input(text, policy)
    if target == "ScanDocument":
        return lambda: engine.scan_document([DocumentChunk(0, text)], policy)
    return lambda: engine.check_output(text, [Passage(1, text)], [], policy)


def main(argv: list[str]) -> None:
    """``TARGET SHAPE SIZE REPEAT``: measure one hostile case here and print its figures as JSON lines."""
    from ragplane.runtime.bench import report_case

    target, shape, size, repeat = argv
    # A small input first, so lazy imports and first-call caches do not count as the case's memory.
    hostile_case(target, shape, 256)()
    report_case(hostile_case(target, shape, int(size)), int(repeat))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
