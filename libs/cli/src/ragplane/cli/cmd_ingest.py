"""``ragplane ingest PATH...``: upload documents to the ingest service and report what happened.

Folders are walked (hidden files and folders skipped, supported extensions only); every document goes over
one IngestDocuments stream with a progress bar. ``--wait`` then polls GetDocumentStatus until every accepted
document is INDEXED or FAILED. A summary table follows (``--json`` for machines).

Exit status: 0 when every document was accepted (and, with --wait, indexed), 1 when any failed, 2 when
--wait ran out of time with documents still pending.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragplane.cli.output import (
    add_connection_args,
    address,
    client_metadata,
    console,
    err_console,
    open_channel,
    print_json,
    print_table,
)

DEFAULT_ADDR = "127.0.0.1:50052"
CONTENT_PART_BYTES = 1024 * 1024
# The extensions the ingest service parses (services/ingest/README.md); the server decides in the end.
SUPPORTED_EXTENSIONS = frozenset(
    {".txt", ".text", ".md", ".markdown", ".mdown", ".mkd", ".html", ".htm", ".xhtml", ".pdf", ".docx"}
)
EXIT_FAILED = 1
EXIT_TIMEOUT = 2


class CliError(Exception):
    """A problem with the command line or the local files; printed without a traceback."""


@dataclass
class LocalDocument:
    path: Path
    doc_id: str
    source: str
    size: int


@dataclass
class Outcome:
    """What happened to one document, filled in as the results and statuses arrive."""

    doc: LocalDocument
    outcome: str = "PENDING"
    chunks: int = 0
    flagged: int = 0
    sequence: int = 0
    state: str = ""
    code: str = ""
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.outcome == "FAILED" or self.state == "FAILED"


def collect(paths: list[str]) -> tuple[list[LocalDocument], list[tuple[str, str]]]:
    """Documents named by ``paths`` and problems ``(path, reason)``.

    A folder contributes its supported files (hidden ones skipped) with doc_id = path relative to the
    folder; a file named directly is sent whatever its extension (the server says if it is unsupported),
    with doc_id = its file name.
    """
    documents: list[LocalDocument] = []
    problems: list[tuple[str, str]] = []
    seen: dict[str, str] = {}

    def add(path: Path, doc_id: str) -> None:
        source = path.as_posix()
        if doc_id in seen:
            problems.append((source, f"doc_id {doc_id!r} is also used by {seen[doc_id]}"))
            return
        seen[doc_id] = source
        documents.append(LocalDocument(path, doc_id, source, path.stat().st_size))

    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if path.is_file() and path.suffix.lower() in SUPPORTED_EXTENSIONS:
                    add(path, relative.as_posix())
        elif root.is_file():
            add(root, root.name)
        else:
            problems.append((raw, "no such file or directory"))
    return documents, problems


def api_key_for_tenant(tenant: str, spec: str) -> str:
    """The first key that RAGPLANE_API_KEYS (inline pairs or a file) maps to ``tenant``.

    Raises:
        CliError: when no key maps to it or the mapping is malformed.
    """
    from ragplane.runtime.auth import ApiKeyError, parse_api_keys

    try:
        keys = parse_api_keys(spec)
    except ApiKeyError as exc:
        raise CliError(str(exc)) from None
    for key, mapped in keys.items():
        if mapped == tenant:
            return key
    raise CliError(f"--tenant {tenant}: no API key maps to this tenant in RAGPLANE_API_KEYS")


def _requests(
    documents: list[LocalDocument],
    chunk_size: int,
    chunk_overlap: int,
    progress: Any,
    task: Any,
    unreadable: dict[str, str],
) -> Iterator[Any]:
    from ragplane.v1 import ingest_pb2

    chunking = ingest_pb2.ChunkingOptions(chunk_size_tokens=chunk_size, chunk_overlap_tokens=chunk_overlap)
    for doc in documents:
        try:
            handle = doc.path.open("rb")
        except OSError as exc:
            unreadable[doc.doc_id] = f"cannot read: {exc.strerror or exc}"
            progress.advance(task, doc.size)
            continue
        with handle:
            yield ingest_pb2.IngestDocumentsRequest(
                header=ingest_pb2.DocumentHeader(
                    doc_id=doc.doc_id, source=doc.source, size_bytes=doc.size, chunking=chunking
                )
            )
            digest = hashlib.sha256()
            while part := handle.read(CONTENT_PART_BYTES):
                digest.update(part)
                yield ingest_pb2.IngestDocumentsRequest(content=part)
                progress.advance(task, len(part))
        yield ingest_pb2.IngestDocumentsRequest(end=ingest_pb2.DocumentEnd(sha256=digest.hexdigest()))


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[docs]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not enabled,
    )


def upload(
    stub: Any,
    documents: list[LocalDocument],
    outcomes: dict[str, Outcome],
    *,
    metadata: list[tuple[str, str]],
    timeout_s: float,
    chunk_size: int,
    chunk_overlap: int,
    show_progress: bool,
) -> None:
    """Stream every document over one IngestDocuments call and record each result."""
    from ragplane.runtime.rpc_status import document_error
    from ragplane.v1 import ingest_pb2

    names = {value: name.removeprefix("INGEST_OUTCOME_") for name, value in ingest_pb2.IngestOutcome.items()}
    unreadable: dict[str, str] = {}
    total = sum(doc.size for doc in documents)
    with _progress(show_progress) as progress:
        task = progress.add_task("uploading", total=total or 1, docs=f"0/{len(documents)} documents")
        done = 0
        responses = stub.IngestDocuments(
            _requests(documents, chunk_size, chunk_overlap, progress, task, unreadable),
            metadata=metadata,
            timeout=timeout_s,
        )
        for response in responses:
            result = response.result
            outcome = outcomes.get(result.doc_id)
            if outcome is None:
                continue
            outcome.outcome = names.get(result.outcome, "FAILED")
            outcome.chunks = result.chunk_count
            outcome.flagged = result.flagged_chunks
            outcome.sequence = result.version.sequence
            code, reason = document_error(result)
            if code:
                outcome.code, outcome.reason = code, reason
            done += 1
            progress.update(task, docs=f"{done}/{len(documents)} documents")
    for doc_id, reason in unreadable.items():
        outcomes[doc_id].outcome, outcomes[doc_id].reason = "FAILED", reason


def wait_indexed(
    stub: Any, outcomes: dict[str, Outcome], *, metadata: list[tuple[str, str]], deadline: float, show_progress: bool
) -> bool:
    """Poll GetDocumentStatus until every accepted or unchanged document is INDEXED or FAILED.

    Returns:
        True when nothing is pending any more, False when the deadline passed first.
    """
    import grpc

    from ragplane.v1 import ingest_pb2

    states = {value: name.removeprefix("DOCUMENT_STATE_") for name, value in ingest_pb2.DocumentState.items()}
    pending = {doc_id: o for doc_id, o in outcomes.items() if o.outcome in ("ACCEPTED", "UNCHANGED")}
    interval = 0.25
    with _progress(show_progress) as progress:
        task = progress.add_task("indexing", total=len(pending) or 1, docs="")
        while pending:
            for doc_id, outcome in list(pending.items()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:
                    reply = stub.GetDocumentStatus(
                        ingest_pb2.GetDocumentStatusRequest(doc_id=doc_id), metadata=metadata, timeout=min(10.0, left)
                    )
                except grpc.RpcError as exc:
                    if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                        continue
                    raise
                status = reply.status
                outcome.state = states.get(status.state, "UNSPECIFIED")
                superseded = status.version.sequence > outcome.sequence > 0
                if outcome.state in ("INDEXED", "FAILED", "DELETED") or superseded:
                    if outcome.state == "FAILED":
                        outcome.reason = status.reason or "indexing failed"
                    elif outcome.state == "DELETED":
                        outcome.state, outcome.reason = "FAILED", "deleted while waiting"
                    if superseded and outcome.state != "FAILED":
                        outcome.extra["superseded_by"] = status.version.sequence
                    del pending[doc_id]
                    progress.advance(task, 1)
            if pending:
                time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
                interval = min(2.0, interval * 1.5)
    return True


def _summary(outcomes: list[Outcome], waited: bool) -> dict[str, int]:
    summary = {
        "documents": len(outcomes),
        "accepted": sum(o.outcome == "ACCEPTED" for o in outcomes),
        "unchanged": sum(o.outcome == "UNCHANGED" for o in outcomes),
        "failed": sum(o.failed for o in outcomes),
        "chunks": sum(o.chunks for o in outcomes if o.outcome in ("ACCEPTED", "UNCHANGED")),
        "flagged_chunks": sum(o.flagged for o in outcomes),
    }
    if waited:
        summary["indexed"] = sum(o.state == "INDEXED" for o in outcomes)
        summary["pending"] = sum(
            o.outcome in ("ACCEPTED", "UNCHANGED")
            and o.state not in ("INDEXED", "FAILED")
            and "superseded_by" not in o.extra
            for o in outcomes
        )
    return summary


def _report(outcomes: list[Outcome], waited: bool, as_json: bool) -> dict[str, int]:
    summary = _summary(outcomes, waited)
    if as_json:
        print_json(
            {
                "summary": summary,
                "documents": [
                    {
                        "doc_id": o.doc.doc_id,
                        "source": o.doc.source,
                        "outcome": o.outcome,
                        "state": o.state,
                        "chunks": o.chunks,
                        "flagged_chunks": o.flagged,
                        "sequence": o.sequence,
                        "code": o.code,
                        "reason": o.reason,
                        **o.extra,
                    }
                    for o in outcomes
                ],
            }
        )
        return summary
    print_table(
        "ingest summary",
        ["documents", "accepted", "unchanged", "failed", "chunks", "flagged chunks"]
        + (["indexed", "pending"] if waited else []),
        [
            [summary[k] for k in ("documents", "accepted", "unchanged", "failed", "chunks", "flagged_chunks")]
            + ([summary["indexed"], summary["pending"]] if waited else [])
        ],
    )
    failures = [o for o in outcomes if o.failed]
    if failures:
        print_table(
            "failures", ["document", "code", "reason"], [(o.doc.source, o.code or "FAILED", o.reason) for o in failures]
        )
    return summary


def run(args: argparse.Namespace) -> int:
    """The ``ingest`` command. Raises CliError for problems a person can fix."""

    from ragplane.v1 import ingest_pb2_grpc

    if args.tenant and args.api_key:
        raise CliError("give either --tenant or --api-key, not both")
    key = args.api_key
    if args.tenant:
        key = api_key_for_tenant(args.tenant, os.environ.get("RAGPLANE_API_KEYS", "dev-key=default"))
    metadata = client_metadata(key)
    documents, problems = collect(args.paths)
    outcomes = {doc.doc_id: Outcome(doc) for doc in documents}
    ordered = [outcomes[doc.doc_id] for doc in documents]
    for path, reason in problems:
        failed = Outcome(
            LocalDocument(Path(path), "", path, 0),
            outcome="FAILED",
            code="NOT_FOUND" if reason == "no such file or directory" else "INVALID_ARGUMENT",
            reason=reason,
        )
        ordered.append(failed)
    if not documents and not problems:
        raise CliError("no supported documents found under " + ", ".join(args.paths))
    started = time.monotonic()
    deadline = started + args.timeout
    show_progress = not args.json
    timed_out = False
    with open_channel(address(args.addr, "RAGPLANE_INGEST_ADDR", DEFAULT_ADDR), args) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        if documents:
            upload(
                stub,
                documents,
                outcomes,
                metadata=metadata,
                timeout_s=args.timeout,
                chunk_size=args.chunk_size,
                chunk_overlap=args.chunk_overlap,
                show_progress=show_progress,
            )
            if args.wait:
                timed_out = not wait_indexed(
                    stub, outcomes, metadata=metadata, deadline=deadline, show_progress=show_progress
                )
    summary = _report(ordered, args.wait, args.json)
    if not args.json:
        console.print(
            f"done in {time.monotonic() - started:.1f}s" + (" (timed out waiting for indexing)" if timed_out else "")
        )
    if summary["failed"]:
        return EXIT_FAILED
    return EXIT_TIMEOUT if timed_out else 0


def _command(args: argparse.Namespace) -> int:
    try:
        return run(args)
    except CliError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        return EXIT_FAILED


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, but got {value}")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, but got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="upload documents (folders are walked) and optionally wait until they are indexed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    parser.add_argument(
        "--tenant", default=None, help="ingest as this tenant: uses the API key RAGPLANE_API_KEYS maps to it"
    )
    parser.add_argument("--wait", action="store_true", help="wait until every document is indexed or failed")
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=900.0,
        help="seconds for the whole command, upload and waiting (default 900)",
    )
    parser.add_argument(
        "--addr", default=None, help=f"ingest service host:port (default $RAGPLANE_INGEST_ADDR or {DEFAULT_ADDR})"
    )
    parser.add_argument("--api-key", default=None, help="API key (default $RAGPLANE_API_KEY or dev-key)")
    add_connection_args(parser)
    parser.add_argument(
        "--chunk-size", type=_non_negative_int, default=0, help="chunk size in tokens (default: the service's, 512)"
    )
    parser.add_argument(
        "--chunk-overlap",
        type=_non_negative_int,
        default=0,
        help="chunk overlap in tokens (default: the service's, 50)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(func=_command)
