"""``ragplane bench gateway``: the HTTP edge's own overhead over a direct gRPC Ask to the same orchestrator.

The same question is asked in pairs, in alternating order: once as a gRPC ``Ask`` straight to the orchestrator,
once as ``POST /v1/chat/completions`` to the gateway (which makes the same Ask). After the warm-up both are
answered from the orchestrator's exact cache. The gateway's overhead per request is its latency as the client
sees it minus the time the gateway itself waited on that Ask (its ``Server-Timing: upstream`` header): the extra
hop, HTTP parsing, validation and JSON, with none of the orchestrator's jitter in it. The target is p95 <= 3 ms.
The paired difference (gateway request minus the direct Ask next to it) is shown too; it also carries the
difference between two separate orchestrator calls, so its tail is the orchestrator's jitter more than the edge.

The gateway measured is a separate ``python -m ragplane_gateway`` process started here on a free port (its log
level INFO, as deployed), unless ``--gateway-url`` names a running one. The orchestrator is a private local stack
on free ports (without rate limits), or the running stack's with ``--use-running`` (whose tenant's rate limit
must allow 2 x (requests + warm-up) asks a few minutes apart). Clients are the plainest there are (a
keep-alive ``http.client`` connection and a gRPC channel), so client cost does not hide in either number.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ragplane.cli.output import console
from ragplane.runtime.bench import BenchResult, latency_summary

HELP = "the gateway's overhead over a direct gRPC Ask (paired, p50/p95)"
COLUMNS = ["n", "p50_ms", "p95_ms", "mean_ms"]
TARGET_P95_MS = 3.0
TENANT_KEY = "bench-gateway-key"
TENANT = "bench-gateway"
QUESTION = "Which port does the ragplane gateway listen on?"
DOCUMENT = (
    "# The ragplane gateway\n\n"
    "The ragplane gateway is the HTTP edge of ragplane. It listens on port 8080 in the local stack and serves "
    "OpenAI-compatible chat completions and REST for documents. Its Prometheus metrics are on port 9180.\n"
)


@contextlib.contextmanager
def gateway_process(orchestrator: str, ingest: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m ragplane_gateway`` on a free loopback port in front of ``orchestrator``; yields its URL.

    Raises:
        RuntimeError: the gateway package is not installed, or the process did not answer /healthz in 60 s.
    """
    from ragplane.cli import infra

    if importlib.util.find_spec("ragplane_gateway") is None:
        raise RuntimeError("this benchmark needs the ragplane-gateway package: pip install 'ragplane-cli[bench]'")
    port, metrics_port = infra.free_port(), infra.free_port()
    child = dict(os.environ if env is None else env)
    child.update(
        RAGPLANE_GATEWAY_LISTEN=f"127.0.0.1:{port}",
        RAGPLANE_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
        RAGPLANE_ORCHESTRATOR_ADDR=orchestrator,
        RAGPLANE_INGEST_ADDR=ingest,
    )
    log_path = Path(tempfile.mkdtemp(prefix="ragplane-bench-gateway-")) / "gateway.log"
    process = infra._spawn([sys.executable, "-m", "ragplane_gateway"], log_path, child)  # noqa: SLF001
    try:
        deadline = time.monotonic() + 60
        while not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start; its log: {log_path}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        infra.stop_pid(process.pid, 10)


def _healthy(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def ingest_document(ingest: str, api_key: str, timeout_s: float) -> str:
    """Ingest ``DOCUMENT`` and wait until it is indexed, so the question has an answer to cache; its state."""
    import grpc

    from ragplane.v1 import ingest_pb2, ingest_pb2_grpc

    metadata = [("authorization", f"Bearer {api_key}")]
    parts = [
        ingest_pb2.IngestDocumentsRequest(
            header=ingest_pb2.DocumentHeader(doc_id="bench-gateway.md", source="bench-gateway.md")
        ),
        ingest_pb2.IngestDocumentsRequest(content=DOCUMENT.encode()),
        ingest_pb2.IngestDocumentsRequest(end=ingest_pb2.DocumentEnd()),
    ]
    with grpc.insecure_channel(ingest) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        for _ in stub.IngestDocuments(iter(parts), metadata=metadata, timeout=60):
            pass
        deadline = time.monotonic() + timeout_s
        while True:
            status = stub.GetDocumentStatus(
                ingest_pb2.GetDocumentStatusRequest(doc_id="bench-gateway.md"), metadata=metadata, timeout=30
            ).status
            final = status.state in (ingest_pb2.DOCUMENT_STATE_INDEXED, ingest_pb2.DOCUMENT_STATE_FAILED)
            if final or time.monotonic() > deadline:
                return ingest_pb2.DocumentState.Name(status.state)
            time.sleep(0.5)


def server_timing(header: str, name: str) -> float:
    """The ``dur`` of metric ``name`` in a Server-Timing header (``upstream;dur=6.214``), in ms.

    Raises:
        RuntimeError: the header does not carry it (a gateway that predates the header).
    """
    for metric in header.split(","):
        parts = [part.strip() for part in metric.split(";")]
        if parts[0] == name:
            for part in parts[1:]:
                key, _, value = part.partition("=")
                if key == "dur":
                    return float(value)
    raise RuntimeError(f"the gateway sent no Server-Timing {name!r} (got {header!r})")


def measure(
    orchestrator: str, gateway_url: str, api_key: str, requests: int, warmup: int, question: str = QUESTION
) -> dict[str, Any]:
    """Paired direct-vs-gateway asks of one question; latency summaries and the raw samples (ms)."""
    import grpc

    from ragplane.v1 import common_pb2, rag_pb2, rag_pb2_grpc

    metadata = [("authorization", f"Bearer {api_key}")]
    body = json.dumps({"model": "ragplane", "messages": [{"role": "user", "content": question}]})
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    parts = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=900)
    direct: list[float] = []
    via: list[float] = []
    upstream: list[float] = []
    outcomes: dict[str, int] = {}
    with grpc.insecure_channel(orchestrator) as channel:
        stub = rag_pb2_grpc.RagServiceStub(channel)

        def ask_direct() -> float:
            started = time.perf_counter()
            result = stub.Ask(rag_pb2.AskRequest(query=question), metadata=metadata, timeout=900).result
            elapsed = (time.perf_counter() - started) * 1000
            outcome = common_pb2.CacheOutcome.Name(result.cache).removeprefix("CACHE_OUTCOME_").lower()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            return elapsed

        def ask_gateway() -> float:
            started = time.perf_counter()
            connection.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"gateway answered {response.status}: {payload[:300]!r}")
            upstream.append(server_timing(response.getheader("server-timing", ""), "upstream"))
            return elapsed

        for _ in range(warmup):
            ask_direct()
            ask_gateway()
        outcomes.clear()
        upstream.clear()
        for index in range(requests):
            if index % 2:
                via.append(ask_gateway())
                direct.append(ask_direct())
            else:
                direct.append(ask_direct())
                via.append(ask_gateway())
    connection.close()
    paired = [v - d for v, d in zip(via, direct, strict=True)]
    own = [v - u for v, u in zip(via, upstream, strict=True)]
    return {
        "requests": requests,
        "warmup": warmup,
        "direct": latency_summary(direct, quantiles=(50, 95)),
        "gateway": latency_summary(via, quantiles=(50, 95)),
        "gateway_upstream": latency_summary(upstream, quantiles=(50, 95)),
        "overhead": latency_summary(own, quantiles=(50, 95)),
        "paired_difference": latency_summary(paired, quantiles=(50, 95)),
        "cache_outcomes": outcomes,
        "overhead_target_p95_ms": TARGET_P95_MS,
        "samples_ms": {"direct": direct, "gateway": via, "gateway_upstream": upstream},
    }


def run(args: argparse.Namespace) -> list[BenchResult]:
    """Measure on a private stack (or the running one) through a gateway started here (or ``--gateway-url``)."""
    from ragplane.cli.stack import private_stack

    key = args.api_key or (os.environ.get("RAGPLANE_API_KEY", "dev-key") if args.use_running else TENANT_KEY)

    def on(orchestrator: str, ingest: str) -> dict[str, Any]:
        console.print("ingesting the benchmark's document and waiting until it is indexed")
        state = ingest_document(ingest, key, args.timeout)
        console.print(f"document {state}; asking once through the whole path (fills the exact cache)")
        if args.gateway_url:
            return measure(orchestrator, args.gateway_url, key, args.requests, args.warmup)
        with gateway_process(orchestrator, ingest) as url:
            return measure(orchestrator, url, key, args.requests, args.warmup)

    if args.use_running:
        results = on(
            os.environ.get("RAGPLANE_ADDR", "127.0.0.1:50051"),
            os.environ.get("RAGPLANE_INGEST_ADDR", "127.0.0.1:50052"),
        )
    else:
        console.print("starting a private local stack on free ports")
        # Unlimited rate: the pairs are hundreds of requests a minute, more than the default limit allows.
        env = {"RAGPLANE_API_KEYS": f"{TENANT_KEY}={TENANT}", "RAGPLANE_RATE_LIMITS": "default=0:0"}
        with private_stack(env) as stack:
            results = on(stack.address("orchestrator"), stack.address("ingest"))
    table = BenchResult("gateway", COLUMNS, title="gateway overhead over a direct gRPC Ask (exact-cache answers)")
    for label, key_name in (
        ("direct gRPC Ask", "direct"),
        ("via gateway (HTTP)", "gateway"),
        ("the gateway's Ask (Server-Timing)", "gateway_upstream"),
        ("gateway overhead (HTTP - its Ask)", "overhead"),
        ("paired difference (HTTP - direct)", "paired_difference"),
    ):
        table.add(label, {column: results[key_name][column] for column in COLUMNS})
    p95 = results["overhead"]["p95_ms"]
    table.notes = f"overhead p95 {p95} ms (target <= {TARGET_P95_MS} ms); cache outcomes {results['cache_outcomes']}"
    table.details = results
    return [table]


def exit_code(results: list[BenchResult]) -> int:
    """1 when the overhead's p95 misses the target."""
    p95 = results[0].details["overhead"]["p95_ms"]
    return 0 if p95 is not None and p95 <= TARGET_P95_MS else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The gateway benchmark's flags."""
    parser.add_argument("--requests", type=int, default=300, help="measured pairs (direct + gateway)")
    parser.add_argument("--warmup", type=int, default=20, help="pairs before measuring (fills the answer cache)")
    parser.add_argument(
        "--use-running", action="store_true", help="the running local stack's orchestrator ($RAGPLANE_ADDR)"
    )
    parser.add_argument("--gateway-url", default="", help="a running gateway instead of one started here")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the document's indexing")
    parser.add_argument("--api-key", help="key (default: the bench tenant's, or $RAGPLANE_API_KEY with --use-running)")
