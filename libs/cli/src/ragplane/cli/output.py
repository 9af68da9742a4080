"""Shared terminal output: tables, JSON, and how commands connect to the services (``connection``)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from ragplane.runtime.bench import BenchResult

console = Console(stderr=False)
err_console = Console(stderr=True)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(table)


def print_result(result: BenchResult) -> None:
    """A benchmark result as a table titled with its title (or name), its notes under it."""
    header, rows = result.table()
    print_table(result.title or result.name, header, rows)
    if result.notes:
        console.print(result.notes, highlight=False)


def progress(message: str) -> None:
    """A dim progress line on stderr (stdout stays clean for ``--json``)."""
    err_console.print(f"[dim]{message}[/dim]")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def api_key(flag: str | None) -> str:
    """The API key a command sends: ``--api-key``, else $RAGPLANE_API_KEY, else the local stack's dev-key."""
    return flag or os.environ.get("RAGPLANE_API_KEY") or "dev-key"


def address(flag: str | None, env_var: str, default: str) -> str:
    return flag or os.environ.get(env_var) or default


def add_connection_args(parser: Any) -> None:
    """``--tls``, ``--ca``, ``--cert``, ``--key`` and ``--server-name``: how a command connects to a service."""
    group = parser.add_argument_group("TLS")
    group.add_argument(
        "--tls", action="store_true", help="connect over TLS (implied by --ca; without --ca the system CA store)"
    )
    group.add_argument("--ca", default=None, help="CA bundle that verifies the server (default $RAGPLANE_CA_FILE)")
    group.add_argument("--cert", default=None, help="client certificate, for servers that require one")
    group.add_argument("--key", default=None, help="private key of --cert")
    group.add_argument("--server-name", default=None, help="name to check the server's certificate against")


def _read_flag_file(path: str | None, flag: str) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise SystemExit(f"{flag} {path}: {exc.strerror}") from None


def connection(args: Any, *, target: str, key_flag: str | None = None, timeout: float = 60.0) -> Any:
    """The ``ragplane.client.Connection`` of a command: every service at ``target`` (the one the command calls),
    the API key (``key_flag`` or ``--api-key``, $RAGPLANE_API_KEY or dev-key), TLS when ``--tls``/``--ca`` (or $RAGPLANE_CA_FILE)
    asks for it.

    Raises:
        SystemExit: --cert without --key (or the reverse), or a file that cannot be read.
    """
    from ragplane.client import TLS, Connection

    key = api_key(key_flag if key_flag is not None else getattr(args, "api_key", None))
    ca = getattr(args, "ca", None) or os.environ.get("RAGPLANE_CA_FILE") or ""
    cert, private_key = getattr(args, "cert", None), getattr(args, "key", None)
    tls = None
    if getattr(args, "tls", False) or ca or cert:
        if bool(cert) != bool(private_key):
            raise SystemExit("--cert and --key go together")
        tls = TLS(
            ca=_read_flag_file(ca, "--ca"),
            cert=_read_flag_file(cert, "--cert"),
            key=_read_flag_file(private_key, "--key"),
            server_name=getattr(args, "server_name", None),
        )
    return Connection(
        address=target,
        ingest_address=target,
        eval_address=target,
        api_key=key,
        tls=tls,
        timeout=timeout,
    )
