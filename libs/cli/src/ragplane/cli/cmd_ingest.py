"""``ragplane ingest PATH...``: upload documents to the ingest service and report what happened.

Folders are walked (hidden files and folders skipped, supported extensions only); every document goes over
one IngestDocuments stream with a progress bar. ``--wait`` then polls GetDocumentStatus until every accepted
document is INDEXED or FAILED. A summary table follows (``--json`` for machines).

Exit status: 0 when every document was accepted (and, with --wait, indexed), 1 when any failed, 2 when
--wait ran out of time with documents still pending.
"""

from __future__ import annotations

import argparse
import os
import time
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

DEFAULT_ADDR = "127.0.0.1:50052"
EXIT_FAILED = 1
EXIT_TIMEOUT = 2


class CliError(Exception):
    """A problem with the command line or the local files; printed without a traceback."""


def collect(paths: list[str]) -> tuple[list[Any], list[tuple[str, str]]]:
    """Documents named by ``paths`` (``ragplane.client.LocalFile``) and problems ``(path, reason)``.

    A folder contributes its supported files (hidden ones skipped) with doc_id = path relative to the
    folder; a file named directly is sent whatever its extension (the server says if it is unsupported),
    with doc_id = its file name.
    """
    from ragplane.client import collect_files

    return collect_files(paths)


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


class _Bars:
    """The upload bar (bytes, documents) and, once the wait begins, the indexing bar, fed by the client's
    progress events."""

    def __init__(self, progress: Any, documents: int) -> None:
        self._progress = progress
        self._documents = documents
        self._upload = progress.add_task("uploading", total=1, docs=f"0/{documents} documents")
        self._index: Any = None

    def __call__(self, event: Any) -> None:
        if event.phase == "upload":
            self._progress.update(
                self._upload,
                completed=event.bytes_sent,
                total=event.bytes_total or 1,
                docs=f"{event.done}/{self._documents} documents",
            )
        elif self._index is None:
            self._index = self._progress.add_task("indexing", total=event.total or 1, docs="")
        else:
            self._progress.update(self._index, completed=event.done)


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


def _code(result: Any) -> str:
    # The status code of a rejected upload; a local failure or a failed indexing has none.
    return result.error.code if result.outcome == "FAILED" and result.error else ""


def _reason(result: Any) -> str:
    return result.error.message if result.error else ""


def _summary(outcomes: list[Any], waited: bool) -> dict[str, int]:
    summary = {
        "documents": len(outcomes),
        "accepted": sum(o.outcome == "ACCEPTED" for o in outcomes),
        "unchanged": sum(o.outcome == "UNCHANGED" for o in outcomes),
        "failed": sum(o.failed for o in outcomes),
        "chunks": sum(o.chunks for o in outcomes if o.outcome in ("ACCEPTED", "UNCHANGED")),
        "flagged_chunks": sum(o.flagged_chunks for o in outcomes),
    }
    if waited:
        summary["indexed"] = sum(o.state == "INDEXED" for o in outcomes)
        summary["pending"] = sum(o.pending for o in outcomes)
    return summary


def _report(outcomes: list[Any], waited: bool, as_json: bool) -> dict[str, int]:
    summary = _summary(outcomes, waited)
    if as_json:
        print_json(
            {
                "summary": summary,
                "documents": [
                    {
                        "doc_id": o.doc_id,
                        "source": o.source,
                        "outcome": str(o.outcome),
                        "state": str(o.state),
                        "chunks": o.chunks,
                        "flagged_chunks": o.flagged_chunks,
                        "sequence": o.sequence,
                        "code": _code(o),
                        "reason": _reason(o),
                        **({"superseded_by": o.superseded_by} if o.superseded_by else {}),
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
            "failures", ["document", "code", "reason"], [(o.source, _code(o) or "FAILED", _reason(o)) for o in failures]
        )
    return summary


def run(args: argparse.Namespace) -> int:
    """The ``ingest`` command. Raises CliError for problems a person can fix."""
    from ragplane.client import Client, DocumentResult, ErrorInfo, IngestOutcome

    if args.tenant and args.api_key:
        raise CliError("give either --tenant or --api-key, not both")
    key = args.api_key
    if args.tenant:
        key = api_key_for_tenant(args.tenant, os.environ.get("RAGPLANE_API_KEYS", "dev-key=default"))
    documents, problems = collect(args.paths)
    if not documents and not problems:
        raise CliError("no supported documents found under " + ", ".join(args.paths))
    started = time.monotonic()
    show_progress = not args.json
    ordered = [DocumentResult(doc.doc_id, doc.source) for doc in documents]
    timed_out = False
    target = address(args.addr, "RAGPLANE_INGEST_ADDR", DEFAULT_ADDR)
    if documents:
        with (
            Client(connection=connection(args, target=target, key_flag=key)) as client,
            _progress(show_progress) as bars,
        ):
            result = client.ingest(
                *documents,
                chunk_size=args.chunk_size,
                chunk_overlap=args.chunk_overlap,
                wait=args.wait,
                timeout=args.timeout,
                progress=_Bars(bars, len(documents)),
            )
        ordered, timed_out = result.documents, result.timed_out
    for path, reason in problems:
        code = "NOT_FOUND" if reason == "no such file or directory" else "INVALID_ARGUMENT"
        ordered.append(DocumentResult("", path, IngestOutcome.FAILED, error=ErrorInfo(code, reason)))
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
